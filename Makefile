# Two commands: `make run` sets everything up and serves on http://127.0.0.1:8080;
# `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
HOST ?= 127.0.0.1
DEMO_EXPERTS ?= 30
export FLASK_APP := app:create_app

.PHONY: run test setup venv font test-deps translations db lint clean

run: setup db
	@echo "服务地址: http://$(HOST):$(PORT)"
	$(BIN)/gunicorn --workers 2 --threads 4 --bind $(HOST):$(PORT) --access-logfile - "app:create_app()"

test: setup test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: venv font translations

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

# WeasyPrint prints empty boxes without a CJK font.
font:
	@if fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "安装中文字体 fonts-noto-cjk ..."; \
	  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-noto-cjk fontconfig >/dev/null; \
	else \
	  echo "缺少中文字体：请以 root 运行 'apt-get install fonts-noto-cjk'（PDF 需要）"; \
	fi

# Browser tests drive Debian's chromium (Playwright's own browser download is not used);
# QR codes are decoded with zbar; chromium-l10n draws the date pickers in Chinese.
test-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	test -f /usr/lib/chromium/locales/zh-CN.pak || missing="$$missing chromium-l10n"; \
	ldconfig -p 2>/dev/null | grep -q libzbar.so || missing="$$missing libzbar0"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "安装测试依赖：$$missing ..."; \
	  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
	else \
	  echo "缺少测试依赖：$$missing（root 运行 'apt-get install$$missing'）；相关测试将跳过"; \
	fi

translations:
	@$(BIN)/pybabel compile -d translations 2>&1 | grep -v "^compiling"; test $${PIPESTATUS[0]} -eq 0

# Migrations, reference data, roles; demo data only the first time.
db:
	mkdir -p instance
	$(BIN)/flask init
	$(BIN)/flask demo-data --once --experts $(DEMO_EXPERTS)

lint:
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) instance/app.db
