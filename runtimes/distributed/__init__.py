"""Beyond one machine: batch classification on a Ray cluster (``ray_run``) and the model file
bundle both it and serving ship to workers (``bundle``)."""
