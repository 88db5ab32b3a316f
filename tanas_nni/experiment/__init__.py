"""Stage 6: experiments — NNI trials for every stage (``trial``), the side-by-side comparison and reports."""
