# The two commands of the README. Both install what they need into .venv first (idempotent).
.PHONY: main test export
main:
	@PY=$$(bash scripts/setup.sh | tail -n1) && $$PY scripts/main.py $(ARGS)
test:
	@bash scripts/test.sh
export:
	@PY=$$(bash scripts/setup.sh | tail -n1) && $$(dirname $$PY)/nbdev_export
