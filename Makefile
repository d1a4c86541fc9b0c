# Two commands: `make run` sets everything up and serves on http://127.0.0.1:8080;
# `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
HOST ?= 127.0.0.1
DEMO_EXPERTS ?= 30
# The broker of the background jobs: a private redis-server on this port (not 6379, so a
# system Redis is left alone), started and stopped with `make run`; CELERY_BROKER_URL
# given in the environment uses that one instead and starts none.
REDIS_PORT ?= 6391
JOB_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
export FLASK_APP := app:create_app

.PHONY: run test setup venv font redis test-deps translations db lint clean

# gunicorn, a Celery worker, celery beat and (unless CELERY_BROKER_URL is given) a private
# redis-server, all stopped together: Ctrl-C, or any of them ending, stops the others.
run: setup redis db
	@echo "服务地址: http://$(HOST):$(PORT)"
	@mkdir -p instance; pids=""; \
	stop() { trap - INT TERM EXIT; [ -n "$$pids" ] && kill $$pids 2>/dev/null; wait; }; \
	trap stop INT TERM EXIT; \
	if [ -z "$$CELERY_BROKER_URL" ]; then \
	  export CELERY_BROKER_URL="redis://127.0.0.1:$(REDIS_PORT)/0"; \
	  redis-server --port $(REDIS_PORT) --bind 127.0.0.1 --save "" --appendonly no \
	    --dir "$(CURDIR)/instance" --logfile "$(CURDIR)/instance/redis.log" & pids="$$pids $$!"; \
	  for i in $$(seq 50); do redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1 && break; sleep 0.1; done; \
	fi; \
	$(BIN)/celery -A app.worker worker --loglevel=INFO --concurrency=$(JOB_WORKERS) & pids="$$pids $$!"; \
	$(BIN)/celery -A app.worker beat --loglevel=INFO \
	  --schedule "$(CURDIR)/instance/celerybeat-schedule" & pids="$$pids $$!"; \
	$(BIN)/gunicorn --workers 2 --threads 4 --bind $(HOST):$(PORT) --access-logfile - \
	  "app:create_app()" & pids="$$pids $$!"; \
	wait -n

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

# The background jobs' broker (Celery on Redis): Debian's redis-server, run by `make run`
# on a private port (the tests start their own).
redis:
	@if command -v redis-server >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "安装 redis-server（后台任务队列）..."; \
	  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null; \
	else \
	  echo "缺少 redis-server：请以 root 运行 'apt-get install redis-server'（整批发放、导入专家需要）"; \
	fi

# Browser tests drive Debian's chromium (Playwright's own browser download is not used);
# QR codes are decoded with zbar; chromium-l10n draws the date pickers in Chinese.
test-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	test -f /usr/lib/chromium/locales/zh-CN.pak || missing="$$missing chromium-l10n"; \
	ldconfig -p 2>/dev/null | grep -q libzbar.so || missing="$$missing libzbar0"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
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
	rm -rf $(VENV) instance/app.db instance/celerybeat-schedule*
