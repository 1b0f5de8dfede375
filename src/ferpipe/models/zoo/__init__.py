"""The model zoo: one file per model, named as params name it (``models.<name>.arch``).

The file defines the one function of that name that builds the model; the registry imports it on
first use, so train@<name> and evaluate@<name> depend on that file alone (dvc.yaml's
``src/ferpipe/models/zoo/${item.arch}.py``) and a new or edited model reruns only its stages."""
