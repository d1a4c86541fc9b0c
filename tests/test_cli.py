"""flask init (twice), demo-data, create-admin, certificate-batch --worker."""
import pytest

from tests.test_certificate import passed  # noqa: F401  (a fixture)


def test_init_is_safe_to_run_again(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["init"])
    second = runner.invoke(args=["init"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "prefecture 14" in second.output
    # the same role sizes both times
    assert first.output.splitlines()[-1] == second.output.splitlines()[-1]
    from app.extensions import db
    from app.models import Prefecture
    with app.app_context():
        assert db.session.query(Prefecture).count() == 14
        db.session.remove()


def test_demo_data_once(app):
    from app.extensions import db
    from app.models import Expert

    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo-data", "--experts", "3", "--once"])
    assert result.exit_code == 0, result.output
    assert "zhangjianguo" in result.output and "maimaitiaili" in result.output
    assert "身份证后八位" in result.output
    with app.app_context():
        count = db.session.query(Expert).count()
        statuses = {e.status for e in db.session.query(Expert).all()}
        db.session.remove()
    result = runner.invoke(args=["demo-data", "--experts", "3", "--once"])
    assert "跳过" in result.output
    with app.app_context():
        assert db.session.query(Expert).count() == count
        db.session.remove()
    assert {"草稿", "已入库"} <= statuses


def test_create_admin(app):
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["create-admin", "--username", "boss", "--name", "主任",
                               "--email", "boss@example.gov.cn", "--password", "short"])
    assert weak.exit_code != 0 and "至少8位" in weak.output
    ok = runner.invoke(args=["create-admin", "--username", "boss", "--name", "主任",
                             "--email", "boss@example.gov.cn", "--password", "Xinjiang2025"])
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(args=["create-admin", "--username", "boss", "--name", "主任",
                                "--email", "boss@example.gov.cn", "--password", "Xinjiang2025"])
    assert again.exit_code != 0 and "已存在" in again.output
    from tests.conftest import login
    assert login(app.test_client(), "boss", "Xinjiang2025", "staff").status_code == 302


@pytest.mark.commits  # the job runs in a session of its own: it must see committed rows
def test_certificate_batch_queued_for_the_worker(app, passed):  # noqa: F811
    """`flask certificate-batch --round NAME --worker` queues the batch for the Celery worker
    (run here inline, as the tests run jobs) instead of running it in the command."""
    from app.extensions import db
    from app.models import CertificateBatch, TrainingRound

    first = passed("命令行排队")
    with app.app_context():
        name = db.session.get(TrainingRound, first.round_id).name
        db.session.remove()
    app.config["CERTIFICATE_BATCH_INLINE"] = True
    try:
        result = app.test_cli_runner().invoke(args=["certificate-batch", "--round", name,
                                                    "--worker"])
    finally:
        app.config["CERTIFICATE_BATCH_INLINE"] = False
    assert result.exit_code == 0, result.output
    assert "已排队" in result.output and "由后台任务执行" in result.output
    with app.app_context():
        batch = db.session.query(CertificateBatch).filter_by(round_id=first.round_id).one()
        assert (batch.status, batch.total, batch.done) == ("已完成", 1, 1)
        db.session.remove()
