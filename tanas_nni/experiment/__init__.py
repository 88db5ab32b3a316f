"""Stage 6: experiments — the side-by-side comparison (``compare``), its report (``report``), and the NNI trials of
every stage: ``trial`` (the ``python3 -m tanas_nni.experiment.trial <stage>`` entry point), ``stages`` (what each trial
stage runs) and ``reporter`` (the link to the outer NNI trial); ``nnictl`` drives experiments from Python."""
