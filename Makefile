# The book's two commands: `make book` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := _vendor/lib
# The stamp names what it holds, so a checkout vendored before Vega was added fetches it.
VENDOR_STAMP := $(VENDOR)/.installed-mathjax-widgets-vega
MATHJAX := mathjax@3.2.2
WIDGETS := @jupyter-widgets/html-manager@1.0.15
# Vega-Lite draws the widgets' live twins in the static pages (lecturelib/widgets/static.py).
VEGA := vega@5.33.1 vega-lite@5.23.0 vega-embed@6.29.0
# Stored outputs, the book build and the tests run without progress bars; `make test` keeps its
# trained-model cache inside _build so every clean clone trains from scratch.
RUN := LECTURELIB_PROGRESS=0 PYDEVD_DISABLE_FILE_VALIDATION=1
TEST_CACHE := $(CURDIR)/_build/lecturelib-cache
NB ?= book
# Notebooks run single-threaded (their set-up cells say so), two at a time on 2 cores.
NB_WORKERS ?= 2
# `make execute` stores outputs with the machine's own CPU kernels; `make test-notebooks` checks
# them with PyTorch's portable kernels, as another processor would compute them, so a checked
# cell that only reproduces on the machine that stored it fails here rather than for a reader.
# An ATEN_CPU_CAPABILITY already set in the environment (avx2, avx512, ...) is used instead.
NB_CPU_CAPABILITY ?= $(or $(ATEN_CPU_CAPABILITY),default)

.PHONY: mutation portability book test test-unit test-full test-notebooks test-book test-browser lab execute venv vendor clean help student pdf

help:
	@echo "make book            install (first time) and build the HTML book into _build/html"
	@echo "make test            unit tests, notebook re-execution (nbval), strict book build, browser tests"
	@echo "make test-full       every notebook's LECTURELIB_SCALE=full path on synthetic data (slow; not in make test)"
	@echo "make lab             open the notebooks in JupyterLab"
	@echo "make student         the student edition (answers replaced by stubs) in _build/student/"
	@echo "make book SOLUTIONS=hide                  build the HTML without the exercises' solutions"
	@echo "make pdf             the whole book as a PDF in _build/latex/ (needs TeX Live, see README)"
	@echo "make test-notebooks NB=book/activations   re-execute and check one chapter"
	@echo "make execute NB=book/activations          re-execute and store one chapter's outputs"
	@echo "make portability NB=book/activations      run it under each CPU capability; list checked cells that differ"

venv: $(STAMP)
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (lecturelib)" >/dev/null
	@touch $@

# MathJax and the ipywidgets HTML manager, fetched once from the npm registry, served from the site.
vendor: $(VENDOR_STAMP)
$(VENDOR_STAMP):
	@rm -rf _vendor && mkdir -p $(VENDOR) _vendor/tmp
	cd _vendor/tmp && npm pack --silent $(MATHJAX) $(WIDGETS) $(VEGA) >/dev/null
	mkdir -p _vendor/tmp/mathjax _vendor/tmp/widgets
	tar -xzf _vendor/tmp/mathjax-*.tgz -C _vendor/tmp/mathjax
	tar -xzf _vendor/tmp/jupyter-widgets-html-manager-*.tgz -C _vendor/tmp/widgets
	cp -r _vendor/tmp/mathjax/package/es5 $(VENDOR)/mathjax
	mkdir -p $(VENDOR)/html-manager
	cp _vendor/tmp/widgets/package/dist/embed.js _vendor/tmp/widgets/package/dist/*.woff* \
	   _vendor/tmp/widgets/package/dist/*.ttf _vendor/tmp/widgets/package/dist/*.eot \
	   _vendor/tmp/widgets/package/dist/*.svg $(VENDOR)/html-manager/
	for name in vega vega-lite vega-embed; do \
	  mkdir -p _vendor/tmp/$$name $(VENDOR)/$$name && tar -xzf _vendor/tmp/$$name-[0-9]*.tgz -C _vendor/tmp/$$name && \
	  cp _vendor/tmp/$$name/package/build/$$name.min.js $(VENDOR)/$$name/ || exit 1; \
	done
	rm -rf _vendor/tmp
	@touch $@

# `make book SOLUTIONS=hide`: an instructor's build without the written solutions
# (sphinx-exercise's hide_solutions, set in a copy of _config.yml under _build/).
BOOK_CONFIG := $(if $(filter hide,$(SOLUTIONS)),_build/_config.hide.yml,_config.yml)
book: $(STAMP) $(VENDOR_STAMP) student
	@mkdir -p _build
	sed -e 's/^\(  config:\)$$/\1\n    hide_solutions: true/' -e 's|^\(    stored_runtimes:\) _ext$$|\1 ../_ext|' \
	  _config.yml > _build/_config.hide.yml
	grep -q '^    hide_solutions: true' _build/_config.hide.yml
	grep -q '^    stored_runtimes: ../_ext' _build/_config.hide.yml
	$(RUN) $(BIN)/jupyter-book build . --builder html --config $(BOOK_CONFIG)
	@echo ""
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

test: test-unit test-notebooks test-book test-browser
	@echo "make test: all checks passed"

test-unit: $(STAMP)
	$(RUN) $(BIN)/python -m pytest -q -m "not browser and not full" tests

# Every notebook at LECTURELIB_SCALE=full on synthetic MNIST/CIFAR-10 files in the real formats,
# with the paper-scale epochs and grids cut down (tests/test_full_paths.py), one notebook at a time.
test-full: $(STAMP)
	$(RUN) $(BIN)/python -m pytest -q -s -p no:cacheprovider -m full tests/test_full_paths.py

test-notebooks: $(STAMP)
	@mkdir -p $(TEST_CACHE)
	$(RUN) ATEN_CPU_CAPABILITY=$(NB_CPU_CAPABILITY) LECTURELIB_CACHE=$(TEST_CACHE) $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=600 -n $(NB_WORKERS) --dist loadfile $(NB)

# The strict build renders the stored outputs that test-notebooks has just re-executed and
# compared, instead of executing every notebook a second time (CI runs on 2 cores).
test-book: $(STAMP) $(VENDOR_STAMP) student
	@mkdir -p _build
	sed -e 's/^\(  execute_notebooks:\).*/\1 "off"/' -e 's|^\(    stored_runtimes:\) _ext$$|\1 ../_ext|' \
	  _config.yml > _build/_config.test.yml
	grep -q 'execute_notebooks: "off"' _build/_config.test.yml
	grep -q '^    stored_runtimes: ../_ext' _build/_config.test.yml
	$(RUN) $(BIN)/jupyter-book build . --builder html -W -n --keep-going --config _build/_config.test.yml

test-browser: $(STAMP)
	$(BIN)/python -m pytest -q -rs -m browser tests/test_browser.py tests/test_jupyterlab.py

# The whole book as one PDF through Jupyter Book's LaTeX builder (XeLaTeX: the text has Greek and
# mathematical symbols), from the stored outputs; needs TeX Live from Debian (see README). Not in
# `make test`. Sphinx's own LaTeX layout: Jupyter Book's class needs bbm.sty, which only Debian's
# texlive-fonts-extra (1.4 GB) has.
pdf: $(STAMP) student
	@mkdir -p _build
	sed -e 's/^\(  execute_notebooks:\).*/\1 "off"/' -e 's|^\(    stored_runtimes:\) _ext$$|\1 ../_ext|' \
	  _config.yml > _build/_config.pdf.yml
	printf 'latex:\n  latex_engine: xelatex\n  use_jupyterbook_latex: false\n  latex_documents:\n    targetname: book.tex\n' >> _build/_config.pdf.yml
	$(RUN) $(BIN)/jupyter-book build . --builder pdflatex --config _build/_config.pdf.yml
	@echo "The PDF is at $(CURDIR)/_build/latex/book.pdf"

# The student edition: every notebook with its exercises' answers replaced by stubs, and the zip
# the book links to (scripts/student_edition.py).
student: $(STAMP)
	$(BIN)/python scripts/student_edition.py --out _build/student

# JupyterLab renders the notebooks' MyST with jupyterlab-myst; jupyterlab/overrides.json, copied
# into the environment's settings (not the reader's home), turns off the news question.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_OVERRIDES): jupyterlab/overrides.json $(STAMP)
	@mkdir -p $(dir $@)
	cp $< $@

lab: $(STAMP) $(LAB_OVERRIDES)
	$(BIN)/jupyter lab book/

execute: $(STAMP)
	$(RUN) env -u ATEN_CPU_CAPABILITY $(BIN)/python scripts/execute_notebooks.py $$(find $(NB) -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)

# Mutation testing of the foundation modules (configured in pyproject.toml): a measurement of
# how many planted bugs the unit tests catch, not a pass/fail check. Results: `mutmut results`.
# One thread: torch's thread pool deadlocks in forked workers, and the hangs would count as kills.
mutation: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2
	$(BIN)/python scripts/mutation_score.py

portability: $(STAMP)
	$(RUN) $(BIN)/python scripts/portability.py $$(find $(NB) -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)

clean:
	rm -rf _build
