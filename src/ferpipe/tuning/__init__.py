"""``ferpipe tune``: Optuna studies over params.yaml's ``tune.space``, shared by workers through one database.

``space`` checks and samples the searched keys, ``study`` opens the study and binds it to its data,
``worker`` runs trials through the training library, ``show`` tables, plots and the rerun command.
"""
