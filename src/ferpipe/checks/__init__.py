"""What CI and a person run to check the project: the metric gate, the staleness check, the
pull-request comment, and the speed benchmark."""
