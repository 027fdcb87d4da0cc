"""The alliance console's registry pages: list, detail, form, import with preview, exports."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user
from flask_wtf import FlaskForm

from kernel import address
from kernel.permissions import requires
from shop.cooperatives.models import CooperativeStatus
from kernel.db import get_session
from kernel.errors import ServiceError
from kernel.exports import table_response
from shop.registry.importer import (
    COLUMNS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    SHOWN_PROBLEMS,
    ImportRejected,
    RegistryImport,
    export_table,
    registry_status_label,
    template_table,
)
from shop.registry.schemas import (
    KIND_BY_CODE,
    KINDS,
    SECTOR_BY_CODE,
    SECTORS,
    RegistryFilters,
    kind_label,
    sector_label,
)
from shop.registry.services import RegistryInvalid, RegistryService
from shop.registry.values import ASCII_DIGITS, CORE_FIELDS, FIELDS

bp = Blueprint("registry", __name__, url_prefix="/alliance/registry")
PER_PAGE = 50
SHOWN_ROWS = 1000


@bp.app_context_processor
def _labels():
    return {"registry_kind_label": kind_label, "registry_sector_label": sector_label,
            "registry_status_label": registry_status_label}


def _default_province() -> int:
    return int(current_app.config.get("ALLIANCE_PROVINCE_CODE") or 92)


def _registry() -> RegistryService:
    return RegistryService(get_session(), _default_province())


def _filters() -> RegistryFilters:
    """Filters from the query string; values that are not on the lists are dropped, not errors."""
    args = request.args
    province = args.get("province", type=int)
    province = province if province and address.province_name(province) != "?" else None
    ward = args.get("ward", type=int)
    ward = ward if province and ward and address.is_valid(province, ward) else None
    return RegistryFilters(
        kind=args.get("kind") if args.get("kind") in KIND_BY_CODE else None,
        sector=args.get("sector") if args.get("sector") in SECTOR_BY_CODE else None,
        province_code=province, ward_code=ward,
        status=args.get("status") if args.get("status") in {s.value for s in CooperativeStatus} else None,
        q=(args.get("q") or "")[:100],
    )


@bp.get("/")
@requires("alliance:cooperative:read")
def index():
    filters = _filters()
    page = min(max(1, request.args.get("page", 1, type=int)), 100_000)
    rows, total = _registry().search(filters, page, PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    return render_template("registry/index.html", rows=rows, total=total, page=page, pages=pages, filters=filters,
                           args=filters.as_args(), kinds=KINDS, sectors=SECTORS, statuses=list(CooperativeStatus),
                           provinces=address.provinces(),
                           wards=address.wards(filters.province_code) if filters.province_code else [],
                           province_name=address.province_name, ward_name=address.ward_name)


@bp.get("/export.<any(csv, xlsx):fmt>")
@requires("alliance:cooperative:read")
def export(fmt: str):
    header, table = export_table(_registry().export_rows(_filters()))
    return table_response(fmt, "so-dang-ky-htx", header, table, sheet_title="So dang ky")


@bp.get("/<int:cooperative_id>")
@requires("alliance:cooperative:read")
def detail(cooperative_id: int):
    registry = _registry()
    row = registry.row(cooperative_id)
    members = registry.members(cooperative_id)
    return render_template("registry/detail.html", row=row, members=members, province_name=address.province_name,
                           ward_name=address.ward_name)


@bp.get("/<int:cooperative_id>/members.<any(csv, xlsx):fmt>")
@requires("alliance:cooperative:read")
def export_members(fmt: str, cooperative_id: int):
    registry = _registry()
    union = registry.row(cooperative_id)
    header, table = export_table(registry.members(cooperative_id))
    return table_response(fmt, f"thanh-vien-lien-hiep-{union.registration_no}".replace("/", "-"), header, table,
                          sheet_title="Thanh vien")


def _form_page(cooperative_id: int | None):
    registry = _registry()
    row = registry.row(cooperative_id) if cooperative_id is not None else None
    # A cooperative that applied to sell keeps its own identity; staff edit only the registry data.
    locked = row is not None and row.status != CooperativeStatus.REGISTERED
    form = FlaskForm()
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {name: request.form.get(name, "") for name in FIELDS if not (locked and name in CORE_FIELDS)}
        if request.form.get("_reload"):
            pass  # the no-script "show communes" button: show the chosen province's communes, save nothing
        elif not form.validate_on_submit():
            errors["form"] = gettext("Your form expired. Please try again.")
        else:
            try:
                saved = registry.save(values, cooperative_id)
            except RegistryInvalid as error:
                for problem in error.problems:
                    errors.setdefault(problem.field, problem.message)
            except ServiceError as error:
                errors[error.field or "form"] = error.message
            else:
                flash(gettext("The registry entry is saved."), "success")
                return redirect(url_for(".detail", cooperative_id=saved.id), 303)
        if locked:
            values = {**registry.form_values(row), **values}
    else:
        values = registry.form_values(row) if row else {"province": str(_default_province()), "kind": "cooperative"}
    province = values.get("province", "")
    province = int(province) if ASCII_DIGITS.fullmatch(str(province)) else _default_province()
    blank = [("", "—")]
    return render_template(
        "registry/form.html", row=row, locked=locked, values=values, errors=errors, form=form,
        kinds_options=[(term.code, term.label()) for term in KINDS],
        sector_options=blank + [(term.code, term.label()) for term in SECTORS],
        province_options=address.provinces(), ward_options=blank + address.wards(province),
        union_options=blank + [(u.registration_no, f"{u.name} ({u.registration_no})")
                               for u in registry.unions() if u.id != cooperative_id],
    ), 400 if errors else 200


@bp.route("/new", methods=["GET", "POST"])
@requires("alliance:cooperative:write")
def create():
    return _form_page(None)


@bp.route("/<int:cooperative_id>/edit", methods=["GET", "POST"])
@requires("alliance:cooperative:write")
def edit(cooperative_id: int):
    return _form_page(cooperative_id)


def _importer() -> RegistryImport:
    return RegistryImport(get_session(), _default_province())


def _import_page(form: FlaskForm, error: str | None = None, status: int = 200):
    return render_template("registry/import.html", form=form, error=error, columns=COLUMNS, kinds=KINDS, sectors=SECTORS,
                           max_mb=MAX_FILE_BYTES // 2**20, max_rows=MAX_ROWS), status


@bp.route("/import", methods=["GET", "POST"])
@requires("alliance:cooperative:write")
def upload():
    form = FlaskForm()
    if request.method == "GET":
        return _import_page(form)
    if not form.validate_on_submit():
        return _import_page(form, gettext("Your form expired. Please try again."), 400)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _import_page(form, gettext("Choose a CSV or XLSX file."), 400)
    try:
        pending = _importer().upload(current_user.id, upload.filename, upload.read(MAX_FILE_BYTES + 1))
    except ServiceError as error:
        return _import_page(form, error.message, error.status)
    return redirect(url_for(".preview", token=pending.id), 303)


@bp.get("/import/template.<any(csv, xlsx):fmt>")
@requires("alliance:cooperative:read")
def template(fmt: str):
    header, rows = template_table()
    return table_response(fmt, "mau-nhap-so-dang-ky", header, rows, sheet_title="So dang ky")


def _preview_page(preview, token: str, form: FlaskForm, status: int = 200):
    return render_template("registry/preview.html", preview=preview, token=token, form=form,
                           problems=preview.problems[:SHOWN_PROBLEMS], rows=preview.planned[:SHOWN_ROWS],
                           shown_rows=SHOWN_ROWS), status


@bp.get("/import/<token>/problems.<any(csv, xlsx):fmt>")
@requires("alliance:cooperative:write")
def export_problems(token: str, fmt: str):
    """The preview's problem list as a file, to work through a long spreadsheet."""
    _pending, checked = _importer().preview(token, current_user.id)
    header = [gettext("Row"), gettext("Column"), gettext("Problem")]
    rows = [[problem.row if problem.row is not None else gettext("whole file"), problem.column, problem.message]
            for problem in checked.problems]
    return table_response(fmt, "loi-nhap-so-dang-ky", header, rows, sheet_title="Loi")


@bp.route("/import/<token>", methods=["GET", "POST"])
@requires("alliance:cooperative:write")
def preview(token: str):
    importer = _importer()
    form = FlaskForm()
    if request.method == "GET":
        _pending, checked = importer.preview(token, current_user.id)
        return _preview_page(checked, token, form, 200 if checked.ok else 422)
    if not form.validate_on_submit():
        flash(gettext("Your form expired. Please try again."), "error")
        return redirect(url_for(".preview", token=token), 303)
    try:
        created, updated = importer.confirm(token, current_user.id)
    except ImportRejected as rejected:
        return _preview_page(rejected.preview, token, form, 422)
    flash(gettext("Import finished: %(created)d new entries, %(updated)d updated.", created=created, updated=updated), "success")
    return redirect(url_for(".index"), 303)
