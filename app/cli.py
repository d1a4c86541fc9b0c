"""Command line: flask init | create-admin | demo-data | import-experts | sync-roles |
certificate-batch. Each command commits through ``unit_of_work.commit``."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import select
from tqdm import tqdm

from app.extensions import db
from app.models import TrainingRound, beijing_today, utcnow
from app.services import certificate, unit_of_work
from app.services import settings as system_settings
from app.services.accounts import check_new_password
from app.services.audit import Actor
from app.services.demo import (
    DEMO_ROUND,
    DEMO_STUDY_ROUND,
    create_demo_accounts,
    create_demo_experts,
    create_demo_study_round,
    create_demo_training,
    create_staff_user,
)
from app.services.importer import import_experts
from app.services.reference import load_reference_data
from app.services.roles import ROLE_ADMIN, sync_roles
from app.services.validators import ValidationError

CLI_ACTOR = Actor(None, "系统（命令行）")


def _print_accounts(accounts: list[dict[str, str]]) -> None:
    click.echo("\n演示账号（登录页选择【专家】或【管理人员】，再用【账号密码登录】）：")
    for a in accounts:
        click.echo(f"  {a['role']:<12} 账号：{a['login']:<28} 密码：{a['password']}  {a['note']}")


def _demo_certificate() -> None:
    """The demo expert who passed 2025年第一批 gets the certificate 【专家证书】 shows."""
    now = utcnow()
    expert = create_demo_training(db.session, now)
    if expert is None:
        return
    rnd = db.session.query(TrainingRound).filter_by(name=DEMO_ROUND).one()
    cfg = system_settings.config()
    cert, _ = certificate.issue(
        db.session, expert, rnd, settings=certificate.settings_from(cfg), upload_dir=cfg["UPLOAD_FOLDER"],
        actor=CLI_ACTOR, today=beijing_today(), now=now,
        minutes_per_hour=cfg["CERTIFICATE_MINUTES_PER_HOUR"])
    unit_of_work.commit(db.session)
    click.echo(f"演示证书：{expert.name} {cert.number}")


def register_cli(app: Flask) -> None:
    @app.cli.command("init")
    @with_appcontext
    def init_command():
        """Migrations, reference data, roles and permissions; safe to run again."""
        upgrade()
        counts = load_reference_data(db.session, current_app.config["REFERENCE_DIR"])
        click.echo("基础数据：" + "，".join(f"{k} {v}" for k, v in counts.items()))
        roles = sync_roles(current_app.appbuilder)
        unit_of_work.commit(db.session)
        click.echo("角色权限：" + "，".join(f"{k} {v}" for k, v in roles.items()))

    @app.cli.command("sync-roles")
    @with_appcontext
    def sync_roles_command():
        """Write the roles defined in code to the database."""
        counts = sync_roles(current_app.appbuilder)
        unit_of_work.commit(db.session)
        for name, count in counts.items():
            click.echo(f"{name}: {count}")

    @app.cli.command("create-admin")
    @click.option("--username", prompt="账号")
    @click.option("--name", prompt="姓名")
    @click.option("--email", prompt="电子邮箱")
    @click.option("--password", prompt="密码", hide_input=True, confirmation_prompt=True)
    @with_appcontext
    def create_admin_command(username, name, email, password):
        """Create a 管理员 account."""
        try:
            check_new_password(password, account=username)
        except ValidationError as exc:
            raise click.ClickException(exc.message) from None
        sm = current_app.appbuilder.sm
        if sm.find_user(username=username):
            raise click.ClickException(f"账号 {username} 已存在")
        create_staff_user(sm, username, name, email, ROLE_ADMIN, password)
        click.echo(f"已创建管理员 {username}")

    @app.cli.command("demo-data")
    @click.option("--experts", "count", default=30, show_default=True, help="随机专家人数")
    @click.option("--once", is_flag=True, help="已有演示数据时不再生成")
    @click.option("--seed", default=1, show_default=True)
    @with_appcontext
    def demo_data_command(count, once, seed):
        """Demo accounts (admin, reviewer, three experts) and N realistic experts."""
        sm = current_app.appbuilder.sm
        if once and sm.find_user(username="admin") is not None:
            click.echo("演示数据已存在，跳过。")
            return
        accounts = create_demo_accounts(db.session, sm)
        with tqdm(total=count, desc="生成专家", unit="人") as bar:
            create_demo_experts(db.session, count, seed=seed, progress=bar.update,
                                checkpoint=unit_of_work.commit)
        unit_of_work.commit(db.session)
        _demo_certificate()
        create_demo_study_round(db.session, utcnow(), current_app.config["UPLOAD_FOLDER"])
        unit_of_work.commit(db.session)
        click.echo(f"演示培训：{DEMO_STUDY_ROUND}（已入库专家 maimaitiaili 可缴费、学习、考试）")
        _print_accounts(accounts)

    @app.cli.command("certificate-batch")
    @click.argument("batch_id", type=int, required=False)
    @click.option("--round", "round_name", help="培训批次名称：为该批次新建一个发放批次并运行")
    @click.option("--base-url", default=None, help="证书二维码中验证页的地址（默认 PUBLIC_BASE_URL）")
    @click.option("--processes", type=int, default=None, help="在此并行渲染的进程数（默认每核一个）")
    @click.option("--worker", is_flag=True, help="交给 Celery 后台任务执行（不在此运行）")
    @with_appcontext
    def certificate_batch_command(batch_id, round_name, base_url, processes, worker):
        """Run a 整批发放 batch here (a batch started from the staff page, or --round NAME);
        --worker queues a new one for the Celery worker instead."""
        cfg = system_settings.config()
        settings = certificate.settings_from(cfg, base_url)
        if round_name:
            rnd = db.session.execute(select(TrainingRound).where(
                TrainingRound.name == round_name)).scalar_one_or_none()
            if rnd is None:
                raise click.ClickException(f"培训批次不存在：{round_name}")
            batch, created = certificate.start_batch(
                db.session, rnd, actor=CLI_ACTOR, now=utcnow(),
                base_url=settings.base_url if worker else None)
            unit_of_work.commit(db.session)
            if worker:
                state = "已排队" if created else f"已在发放中（{batch.status}）"
                click.echo(f"发放批次 {batch.id}：{state}，由后台任务执行")
                return
            batch_id = batch.id
        if batch_id is None:
            raise click.ClickException("请给出发放批次号或 --round 培训批次名称")
        result = certificate.run_batch(
            db.session, batch_id, settings=settings, upload_dir=cfg["UPLOAD_FOLDER"],
            today=beijing_today(),
            processes=processes or cfg["CERTIFICATE_BATCH_PROCESSES"],
            minutes_per_hour=cfg["CERTIFICATE_MINUTES_PER_HOUR"])
        click.echo(f"发放批次 {batch_id}：新发 {result.issued} 张，已有跳过 {result.skipped}，"
                   f"失败 {result.failed}")

    @app.cli.command("import-experts")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @with_appcontext
    def import_experts_command(file: Path):
        """Import experts from an xlsx file (headers: 姓名, 身份证号, 手机号码, ...)."""
        bar = tqdm(desc="导入专家", unit="行")

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = import_experts(db.session, file.read_bytes(), file_name=file.name,
                                progress=progress)
        unit_of_work.commit(db.session)
        bar.close()
        if report.file_error:
            raise click.ClickException(report.file_error)
        click.echo(f"新增 {report.created} 人，已存在未更改 {report.unchanged} 人，"
                   f"失败 {report.failed} 行")
        for err in report.errors:
            click.echo(f"  第{err.row}行 {err.name}：{err.reason}")
