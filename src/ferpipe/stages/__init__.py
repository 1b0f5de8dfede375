"""The pipeline's stages, one module each, named as in dvc.yaml: ``stages/<stage>.py`` (the
script DVC runs) calls ``ferpipe.stages.<stage>.run`` with the stage's arguments, the params and
the paths. A stage reads params and calls the library below it; nothing below imports a stage."""
