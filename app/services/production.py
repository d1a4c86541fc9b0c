"""What an instance started with PRODUCTION must not run with: the development defaults.
The factory calls ``check_production`` before building anything, so a misconfigured
deployment stops at start-up with the whole list instead of running half safe."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ProductionConfigError(RuntimeError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("PRODUCTION 已设置，但以下配置仍是开发默认值，系统拒绝启动：\n"
                         + "\n".join(f"  - {p}" for p in problems))


def production_problems(config: Mapping[str, Any]) -> list[str]:
    """Each development default still in ``config``, as a line naming the setting."""
    problems = []
    if config.get("PAYMENT_PROVIDER", "local") == "local":
        problems.append("PAYMENT_PROVIDER=local：本地模拟支付仅用于开发和测试，请配置正式的支付渠道")
    if not config.get("SECRET_KEY_FROM_ENVIRONMENT") or not config.get("SECRET_KEY"):
        problems.append("SECRET_KEY：未在环境变量中设置（现用 instance/ 中自动生成的开发密钥），"
                        "请在环境变量 SECRET_KEY 中给出")
    if not config.get("SESSION_COOKIE_SECURE"):
        problems.append("SESSION_COOKIE_SECURE：未开启，登录 Cookie 会经明文 HTTP 发送")
    if not config.get("REMEMBER_COOKIE_SECURE"):
        problems.append("REMEMBER_COOKIE_SECURE：未开启，记住登录的 Cookie 会经明文 HTTP 发送")
    if not config.get("SESSION_COOKIE_HTTPONLY"):
        problems.append("SESSION_COOKIE_HTTPONLY：未开启，页面脚本可读取登录 Cookie")
    if not config.get("WTF_CSRF_ENABLED", True):
        problems.append("WTF_CSRF_ENABLED：已关闭，表单不再防跨站请求伪造")
    return problems


def check_production(config: Mapping[str, Any]) -> None:
    """Raises ProductionConfigError when PRODUCTION is set and a development default remains."""
    if not config.get("PRODUCTION"):
        return
    problems = production_problems(config)
    if problems:
        raise ProductionConfigError(problems)
