"""Stage 3: task distances d(source → target) between dictionary entries and a target task.

``get_distance(name, **settings)`` returns a registered :class:`TaskDistance` (``fisher``, ``otdd``, ``transfer``);
:func:`distances_to` ranks the dictionary for a target (cached in the dictionary); :func:`distance_matrix` and
:mod:`.report` give the full matrix with its CSV, heatmap and summary.
"""
from .base import DISTANCES, DistanceConfig, DistanceTarget, TaskDistance, distance_names, get_distance, register_distance
from .fisher import FisherDistance, FisherSettings
from .otdd import OTDDistance, OTDDSettings
from .transfer import TransferDistance, TransferSettings
from .api import check_entries, distance_matrix, distances_to, prepare_target
from .report import matrix_summary, write_matrix_report

__all__ = ["DISTANCES", "DistanceConfig", "DistanceTarget", "TaskDistance", "distance_names", "get_distance", "register_distance",
           "FisherDistance", "FisherSettings", "OTDDistance", "OTDDSettings",
           "TransferDistance", "TransferSettings", "check_entries",
           "distance_matrix", "distances_to", "prepare_target", "matrix_summary", "write_matrix_report"]
