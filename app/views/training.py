"""【继续教育】→【培训考试】→【我的培训】 for experts; 缴费 with a QR code; the payment
callback; staff screens for rounds, courses, orders and 线下对账.

Nothing here commits: the request does, after the view (``app/errors.py``). Refusals are
raised as ``DomainError`` and answered by the one handler, except where the page shows the
message beside its field, or where what the service did before refusing must be kept (a
timed-out attempt handed in by 【考试】): there the view answers itself and the request
still commits."""
from __future__ import annotations

import json
import logging
import math

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    request,
    url_for,
)
from flask_appbuilder import BaseView, expose
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, NumberRange

from app.errors import rollback
from app.extensions import csrf, db
from app.models import (
    AttemptStatus,
    Course,
    Enrollment,
    ExamAnswer,
    ExamAttempt,
    Lesson,
    PaperRule,
    PaymentOrder,
    Question,
    TrainingRound,
    utcnow,
)
from app.services import exam, payment, settings, study
from app.services.access import load_enrollment
from app.services.errors import DomainError, Forbidden, NotFound
from app.services.exam import ExamError
from app.services.expert_status import is_admitted
from app.services.payment import LocalHmacProvider
from app.services.pdf import qr_data_uri
from app.services.study import progress_percent
from app.views._menus import expert_is_admitted
from app.views.base import (
    ExpertScreen,
    StaffModelView,
    UploadFieldMixin,
    add_menu_view,
    file_link,
    send_stored,
    yes_no,
)
from app.views.widgets import BeijingTimesMixin

PAGE_SIZES = (10, 20, 50)

log = logging.getLogger(__name__)


def provider() -> payment.PaymentProvider:
    cfg = current_app.config
    if cfg["PAYMENT_PROVIDER"] == "local":
        return LocalHmacProvider(cfg["PAYMENT_LOCAL_SECRET"].encode(), request.host_url,
                                 production=cfg["PRODUCTION"])
    raise RuntimeError(f"unknown PAYMENT_PROVIDER {cfg['PAYMENT_PROVIDER']}")


class MyTrainingView(ExpertScreen):
    """我的培训: the manual's columns, search by 课程名称, 共 N 条 / 10 条/页 / 前往."""

    route_base = "/training"
    class_permission_name = "ContinuingEducation"
    default_view = "index"
    menu_group = "培训考试"  # the menu reads 【继续教育】→【培训考试】→【我的培训】, as the manual

    def _own_enrollment(self, enrollment_id: int) -> Enrollment:
        return load_enrollment(db.session, enrollment_id, current_user)

    @expose("/")
    @has_access
    def index(self):
        expert = self._expert()
        if not is_admitted(expert):
            flash("审核通过（已入库）后即可进入【继续教育】", "warning")
            return redirect(url_for("MyProfileView.profile"))
        payment.ensure_enrollments(db.session, expert, utcnow())
        name = (request.args.get("name") or "").strip()
        try:
            size = int(request.args.get("size", 10))
            page = max(1, int(request.args.get("page", 1)))
        except ValueError:
            size, page = 10, 1
        size = size if size in PAGE_SIZES else 10
        query = (select(Enrollment).join(Course).where(Enrollment.expert_id == expert.id))
        if name:
            query = query.where(Course.name.contains(name, autoescape=True))
        total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar()
        pages = max(1, math.ceil(total / size))
        page = min(page, pages)
        rows = db.session.execute(
            query.options(contains_eager(Enrollment.course))  # joined above: no query per row
            .order_by(Enrollment.created_at.desc(), Enrollment.id.desc())
            .offset((page - 1) * size).limit(size)).scalars().all()
        now = utcnow()
        return self.render_template(
            "training/my_training.html", expert=expert, rows=rows, total=total, page=page,
            pages=pages, size=size, sizes=PAGE_SIZES, name=name, first=(page - 1) * size,
            gate=lambda e: payment.study_gate(e, now),
            needs_payment=payment.needs_payment)

    @expose("/<int:enrollment_id>/pay")
    @has_access
    def pay(self, enrollment_id: int):
        """【缴费】: the order's QR code, with the 专家编号 and the amount written under it."""
        enrollment = self._own_enrollment(enrollment_id)
        try:
            order = payment.open_order(db.session, enrollment, utcnow())
        except DomainError as exc:  # answered on 我的培训, where the 【缴费】 button is
            flash(exc.message, "warning")
            return redirect(url_for(".index"))
        url = provider().payment_url(order)
        return self.render_template("training/pay.html", order=order, enrollment=enrollment,
                                    qr=qr_data_uri(url, box_size=8), pay_url=url)

    def _open_enrollment(self, enrollment_id: int) -> Enrollment:
        """The expert's own enrolment, and only while 学习 is open."""
        enrollment = self._own_enrollment(enrollment_id)
        reason = payment.study_gate(enrollment, utcnow())
        if reason:
            raise Forbidden(reason)
        return enrollment

    @expose("/<int:enrollment_id>/study")
    @has_access
    def study(self, enrollment_id: int):
        enrollment = self._own_enrollment(enrollment_id)
        reason = payment.study_gate(enrollment, utcnow())
        if reason:
            flash(reason, "warning")
            return redirect(url_for(".index"))
        lessons = sorted(enrollment.course.lessons, key=lambda x: (x.sort, x.id))
        wanted = request.args.get("lesson", type=int) or enrollment.resume_lesson_id
        current = next((x for x in lessons if x.id == wanted), lessons[0] if lessons else None)
        resume = enrollment.resume_position if current and current.id == enrollment.resume_lesson_id else 0
        return self.render_template(
            "training/study.html", enrollment=enrollment, lessons=lessons, current=current,
            resume=resume, progress=progress_percent(enrollment), beat_seconds=study.HEARTBEAT_SECONDS,
            exam_open=exam.available(enrollment, utcnow()))

    @expose("/<int:enrollment_id>/lesson/<int:lesson_id>/media")
    @has_access
    def media(self, enrollment_id: int, lesson_id: int):
        """The lesson's video (HTTP Range, so it plays and seeks in the page) or PDF."""
        enrollment = self._open_enrollment(enrollment_id)
        lesson = db.session.get(Lesson, lesson_id)
        if lesson is None or lesson.course_id != enrollment.course_id or lesson.file is None:
            raise NotFound()
        return send_stored(lesson.file.stored_name, lesson.file.content_type, inline=True,
                           conditional=True)

    @expose("/<int:enrollment_id>/exam")
    @has_access
    def exam(self, enrollment_id: int):
        enrollment = self._open_enrollment(enrollment_id)
        try:
            attempt = exam.start(db.session, enrollment, utcnow())
        except DomainError as exc:
            # answered here, not by the handler (which rolls back): a running attempt whose
            # time ran out was handed in before the refusal, and that stays
            flash(exc.message, "warning")
            return redirect(url_for(".index"))
        answers = {a.question_id: a.answer for a in attempt.answers}
        return self.render_template("training/exam.html", enrollment=enrollment, attempt=attempt,
                                    questions=exam.paper(db.session, attempt), answers=answers,
                                    remaining=max(0, int((attempt.deadline - utcnow()).total_seconds())))

    def _own_attempt(self, enrollment_id: int) -> ExamAttempt:
        return exam.load_current_attempt(db.session, self._open_enrollment(enrollment_id))

    @expose("/<int:enrollment_id>/exam/answer", methods=["POST"])
    @has_access
    def answer(self, enrollment_id: int):
        """Saves one answer as it is given (called by the page's script)."""
        attempt = self._own_attempt(enrollment_id)
        data = request.get_json(silent=True) or {}
        try:
            try:
                question_id = int(data.get("question_id") or 0)
            except (TypeError, ValueError):
                raise ExamError("答案无效") from None
            exam.save_answer(db.session, attempt, question_id, str(data.get("answer") or ""),
                             utcnow())
        except DomainError as exc:  # the page's script reads this shape (saved, message)
            rollback()
            return jsonify(saved=False, message=exc.message), 409
        return jsonify(saved=True, remaining=int((attempt.deadline - utcnow()).total_seconds()))

    @expose("/<int:enrollment_id>/exam/submit", methods=["POST"])
    @has_access
    def submit_exam(self, enrollment_id: int):
        """交卷: every answer on the form is saved first (works without the script), then the
        paper is handed in once; a second submit changes nothing."""
        attempt = self._own_attempt(enrollment_id)
        now = utcnow()
        if attempt.is_running:
            for question_id in json.loads(attempt.question_ids):
                values = request.form.getlist(f"q{question_id}")
                if values:
                    try:
                        exam.save_answer(db.session, attempt, question_id, ",".join(values), now)
                    except ExamError:
                        break  # time is up: hand in what was saved
            if not exam.submit(db.session, attempt, now):
                db.session.refresh(attempt)  # handed in meanwhile by another request
        flash(f"已交卷：{attempt.status}" + (f"，得分 {attempt.score}" if attempt.score is not None else ""),
              "success")
        return redirect(url_for(".index"))


class PaymentCallbackView(BaseView):
    """The provider's notification: signature over the raw body, amount, freshness,
    idempotent. No session, no CSRF token: the signature is the authentication."""

    route_base = "/payments"
    class_permission_name = "PaymentCallback"
    default_view = "notify"

    @expose("/notify/<provider_name>", methods=["POST"])
    @csrf.exempt
    def notify(self, provider_name: str):
        try:
            prov = provider()
        except RuntimeError:
            abort(404)
        if prov.name != provider_name:
            abort(404)
        try:
            credited = payment.receive_notification(
                db.session, prov, request.headers, request.get_data(), utcnow())
        except DomainError as exc:  # the provider's answer shape, not the app's
            rollback()
            log.warning("payment notification from %s refused: %s", provider_name, exc.message)
            return jsonify(code="FAIL", message=exc.message), 400
        return jsonify(code="SUCCESS", credited=credited)

    @expose("/local/<order_no>")
    def local_cashier(self, order_no: str):
        """What the local provider's QR code opens: a stand-in cashier page (development)."""
        if current_app.config["PAYMENT_PROVIDER"] != "local" or current_app.config["PRODUCTION"]:
            abort(404)
        order = db.session.execute(
            select(PaymentOrder).where(PaymentOrder.order_no == order_no)).scalar_one_or_none()
        if order is None:
            abort(404)
        return self.render_template("training/local_cashier.html", order=order)


class StatementForm(FlaskForm):
    file = FileField("对账单（xlsx 或 csv）")


class ManualConfirmForm(FlaskForm):
    order_no = StringField("订单号")
    reference = StringField("付款凭证号")


class ReconcileView(BaseView):
    """线下对账: a bank or merchant statement matched by 专家编号 and amount; or one payment
    confirmed by hand with its reference."""

    route_base = "/payments/reconcile"
    class_permission_name = "PaymentReconcile"
    audience = "staff"
    default_view = "index"

    @expose("/", methods=["GET", "POST"])
    @has_access
    def index(self):
        form, manual = StatementForm(prefix="s"), ManualConfirmForm(prefix="m")
        rows = None
        if request.method == "POST" and request.form.get("what") == "statement" and form.validate():
            upload = request.files.get("s-file")
            if not upload or not upload.filename:
                form.file.errors = ["请选择对账文件"]
            else:
                try:
                    rows = payment.reconcile(
                        db.session, payment.read_statement(upload.read(), upload.filename),
                        utcnow(), current_user.id)
                except DomainError as exc:  # beside the field; nothing of the file is kept
                    rollback()
                    form.file.errors = [exc.message]
        elif request.method == "POST" and request.form.get("what") == "manual" and manual.validate():
            order = db.session.execute(select(PaymentOrder).where(
                PaymentOrder.order_no == (manual.order_no.data or "").strip())).scalar_one_or_none()
            if order is None:
                manual.order_no.errors = ["订单不存在"]
            else:
                try:
                    payment.confirm_by_hand(db.session, order, manual.reference.data, utcnow(),
                                            current_user.id)
                    flash(f"订单 {order.order_no} 已确认缴费", "success")
                    return redirect(url_for(".index"))
                except DomainError as exc:  # beside the field
                    rollback()
                    manual.reference.errors = [exc.message]
        return self.render_template("training/reconcile.html", form=form, manual=manual, rows=rows)


class TrainingRoundAdminView(BeijingTimesMixin, StaffModelView):
    datamodel = SQLAInterface(TrainingRound)
    list_title = show_title = add_title = edit_title = "培训批次"
    label_columns = {"name": "培训批次", "admission_batches": "参训入库批次", "statuses": "参训专家状态",
                     "enroll_start": "缴费开始时间（北京时间）", "enroll_end": "缴费结束时间（北京时间）",
                     "study_days": "学习期限（天）", "fee_fen": "培训费（元）",
                     "makeup_fee_fen": "补学费（元）", "pass_mark": "合格分数",
                     "attempts_allowed": "考试次数", "open_delay_days": "缴费后开放（天）",
                     "active": "启用"}
    list_columns = ["name", "admission_batches", "enroll_start", "enroll_end", "fee_fen", "active"]
    add_columns = edit_columns = show_columns = [
        "name", "admission_batches", "statuses", "enroll_start", "enroll_end", "study_days",
        "fee_fen", "makeup_fee_fen", "pass_mark", "attempts_allowed", "open_delay_days", "active"]
    search_columns = ["name", "active"]
    filter_row = ("name", "active", "enroll_start")
    base_order = ("id", "desc")  # the round just opened first, not on the last page
    formatters_columns = {"active": yes_no}
    description_columns = {"admission_batches": "多个用逗号分隔，如 2024年第一批,2024年第二批；留空为全部",
                           "fee_fen": "单位：元，如 300 或 300.00"}
    beijing_time_columns = ("enroll_start", "enroll_end")
    add_form_extra_fields = edit_form_extra_fields = {
        # unchecked means inactive: FAB makes the checkbox of a NOT NULL column required
        "active": BooleanField(lazy_gettext("启用"), default=True,
                               description=lazy_gettext("不勾选则不再为专家新增该批次的培训")),
        # a new round's default is 系统设置's (T+2 unless changed there)
        "open_delay_days": IntegerField(
            lazy_gettext("缴费后开放（天）"), default=lambda: settings.get("ROUND_OPEN_DELAY_DAYS"),
            validators=[InputRequired(message="请填写缴费后开放天数"),
                        NumberRange(0, 30, message="缴费后开放天数应为 0 至 30 天")]),
    }

    def check_form(self, form) -> bool:
        start, end = form.enroll_start.data, form.enroll_end.data
        if start and end and end <= start:
            form.enroll_end.errors = [*form.enroll_end.errors, "缴费结束时间应晚于缴费开始时间"]
            return False
        return True


class CourseAdminView(StaffModelView):
    datamodel = SQLAInterface(Course)
    list_title = show_title = add_title = edit_title = "课程"
    label_columns = {"round": "培训批次", "name": "课程名称", "required_minutes": "要求学时（分钟）",
                     "sort": "排序"}
    list_columns = ["round", "name", "required_minutes", "sort"]
    add_columns = edit_columns = show_columns = list_columns
    search_columns = ["round", "name"]
    filter_row = ("round", "name")


class PaymentOrderAdminView(BeijingTimesMixin, StaffModelView):
    """缴费订单: read-only; paid through the provider, the statement or by hand."""

    datamodel = SQLAInterface(PaymentOrder)
    base_permissions = ["can_list", "can_show"]
    base_order = ("id", "desc")
    list_title = show_title = "缴费订单"
    label_columns = {"order_no": "订单号", "expert_no": "专家编号", "amount_fen": "金额（元）",
                     "kind": "类别", "status": "状态", "created_at": "下单时间（北京时间）",
                     "paid_at": "支付时间（北京时间）",
                     "provider": "确认方式", "provider_ref": "流水号/凭证号"}
    list_columns = ["order_no", "expert_no", "amount_fen", "kind", "status", "created_at", "paid_at",
                    "provider", "provider_ref"]
    show_columns = list_columns
    search_columns = ["order_no", "expert_no", "status", "provider_ref", "created_at"]
    exact_search_columns = ("order_no", "expert_no", "provider_ref")
    filter_row = ("order_no", "expert_no", ("status", "payment_status"), ("kind", "fee_kind"),
                  ("provider", "payment_method"), "created_at")
    word_columns = {"provider": "payment_method"}
    beijing_time_columns = ("created_at", "paid_at")


class LessonAdminView(UploadFieldMixin, StaffModelView):
    """课程资料: videos (mp4) and documents (PDF), through the upload service."""

    datamodel = SQLAInterface(Lesson)
    list_title = show_title = add_title = edit_title = "课程资料"
    label_columns = {"course": "课程", "title": "标题", "file": "文件", "sort": "排序",
                     "upload": "上传文件"}
    list_columns = ["course", "title", "file", "sort"]
    show_columns = list_columns
    add_columns = ["course", "title", "sort", "upload"]
    edit_columns = ["course", "title", "sort"]
    search_columns = ["course", "title"]
    filter_row = ("course", "title")
    add_form_extra_fields = {"upload": FileField("上传文件", description="MP4 视频或 PDF 课件")}
    formatters_columns = {"file": file_link}

    upload_kind = "lesson"

    def upload_owner(self, form) -> int | None:
        return current_user.id


class QuestionAdminView(StaffModelView):
    datamodel = SQLAInterface(Question)
    list_title = show_title = add_title = edit_title = "题库"
    label_columns = {"course": "课程", "kind": "题型", "text": "题目", "options": "选项",
                     "answer": "答案"}
    list_columns = ["course", "kind", "text", "answer"]
    add_columns = edit_columns = show_columns = ["course", "kind", "text", "options", "answer"]
    search_columns = ["course", "kind", "text"]
    filter_row = ("course", ("kind", "question_kind"), "text")
    add_form_extra_fields = edit_form_extra_fields = {
        "kind": SelectField("题型", choices=[(k, lazy_gettext(k)) for k, _ in exam.KINDS],
                            widget=Select2Widget()),
    }
    description_columns = {"options": "每行一个选项，如 A. 招标人",
                           "answer": "单选 B；多选 ACD；判断 对/错；简答填参考答案"}


class PaperRuleAdminView(StaffModelView):
    datamodel = SQLAInterface(PaperRule)
    list_title = show_title = add_title = edit_title = "试卷规则"
    label_columns = {"course": "课程", "single_count": "单选题数", "single_score": "单选每题分",
                     "multi_count": "多选题数", "multi_score": "多选每题分", "judge_count": "判断题数",
                     "judge_score": "判断每题分", "short_count": "简答题数", "short_score": "简答每题分",
                     "time_limit_minutes": "考试时长（分钟）"}
    list_columns = ["course", "single_count", "multi_count", "judge_count", "short_count",
                    "time_limit_minutes"]
    add_columns = edit_columns = show_columns = [
        "course", "single_count", "single_score", "multi_count", "multi_score", "judge_count",
        "judge_score", "short_count", "short_score", "time_limit_minutes"]
    search_columns = ["course"]
    filter_row = ("course",)


class GradingView(BaseView):
    """批阅: the short answers waiting for a score; grading sets 批阅时间."""

    route_base = "/grading"
    class_permission_name = "Grading"
    audience = "staff"
    default_view = "index"

    @expose("/", methods=["GET", "POST"])
    @has_access
    def index(self):
        errors: dict[int, str] = {}
        if request.method == "POST":
            answer = db.session.get(ExamAnswer, request.form.get("answer_id", type=int) or 0)
            if answer is None:
                raise NotFound()
            try:
                try:
                    points = int(request.form.get("points", ""))
                except ValueError:
                    raise ExamError("请输入整数分数") from None
                exam.grade_short(db.session, answer, points, current_user.id, utcnow())
                flash("已批阅", "success")
                return redirect(url_for(".index"))
            except DomainError as exc:  # beside the answer's score field
                rollback()
                errors[answer.id] = exc.message
        waiting = db.session.execute(
            select(ExamAnswer).join(Question).join(ExamAttempt)
            .where(Question.kind == exam.SHORT, ExamAnswer.points.is_(None),
                   ExamAttempt.status == AttemptStatus.PENDING)
            .order_by(ExamAttempt.submitted_at).limit(50)).scalars().all()
        return self.render_template("training/grading.html", waiting=waiting, errors=errors)


def register(appbuilder) -> None:
    add_menu_view(appbuilder, MyTrainingView, "我的培训", category="继续教育",
                  icon="fa-graduation-cap", menu_cond=expert_is_admitted)
    appbuilder.add_view_no_menu(PaymentCallbackView)
    add_menu_view(appbuilder, TrainingRoundAdminView, "培训批次", category="继续教育管理",
                  icon="fa-calendar")
    add_menu_view(appbuilder, CourseAdminView, "课程", category="继续教育管理", icon="fa-book")
    add_menu_view(appbuilder, PaymentOrderAdminView, "缴费订单", category="继续教育管理",
                  icon="fa-money")
    add_menu_view(appbuilder, ReconcileView, "线下对账", category="继续教育管理", icon="fa-exchange")
    add_menu_view(appbuilder, LessonAdminView, "课程资料", category="继续教育管理", icon="fa-film")
    add_menu_view(appbuilder, QuestionAdminView, "题库", category="继续教育管理", icon="fa-question")
    add_menu_view(appbuilder, PaperRuleAdminView, "试卷规则", category="继续教育管理", icon="fa-list-ol")
    add_menu_view(appbuilder, GradingView, "批阅", category="继续教育管理", icon="fa-check")
