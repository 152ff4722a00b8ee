# The two commands of the README. Both install what they need into .venv first (idempotent).
.PHONY: main test export study
main:
	@PY=$$(bash scripts/setup.sh | tail -n1) && $$PY scripts/main.py $(ARGS)
test:
	@bash scripts/test.sh
# seeds and ablations at the main job's settings (after `make main`; 14 runs: 33 min here as two `--threads 1` studies side by side): figures/results.json seeds/ablations
study:
	@PY=$$(bash scripts/setup.sh | tail -n1) && $$PY scripts/study.py $(ARGS) && $$PY -c "import sys; sys.path.insert(0, 'scripts'); import main; main.render_readme()"
export:
	@PY=$$(bash scripts/setup.sh | tail -n1) && $$(dirname $$PY)/nbdev_export
