"""Public catalogue pages and the cooperative's back office for products and batches."""

from __future__ import annotations

import re

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from pydantic import ValidationError

from kernel.permissions import requires
from shop.catalog.forms import CATEGORY_LABELS, SALE_UNIT_LABELS, BatchForm, ProductForm, RecallForm, TraceEventForm
from shop.catalog.schemas import BatchCreate, ProductCreate, TraceEventCreate
from shop.catalog.services import CatalogService, PublicCatalog
from kernel.db import get_session
from kernel.errors import ServiceError
from shop.forms import apply_errors, schema_from_form
from traceability import gs1
from traceability.services import CredentialService, key_service

bp = Blueprint("catalog", __name__)


def _backoffice() -> CatalogService:
    session = get_session()
    return CatalogService(
        session,
        current_user.cooperative_id,
        alliance_gs1_prefix=current_app.config["GS1_COMPANY_PREFIX"],
        credentials=CredentialService(session, key_service(session)),
    )


@bp.app_context_processor
def _labels():
    return {"category_labels": CATEGORY_LABELS, "sale_unit_labels": SALE_UNIT_LABELS}


# -- public --------------------------------------------------------------------------------------
PER_PAGE = 24


@bp.get("/")
def home():
    from kernel import address
    from shop.catalog.models import Category

    args = request.args
    query = args.get("q", "")[:100]
    category = args.get("category") if args.get("category") in {c.value for c in Category} else None
    province = args.get("province", type=int)
    province = province if province and address.province_name(province) != "?" else None
    certification = (args.get("cert") or "")[:40] or None
    in_stock = args.get("in_stock") == "1"
    page = min(max(1, args.get("page", 1, type=int)), 10_000)
    rows, total = PublicCatalog(get_session()).find(query, category=category, province=province, certification=certification,
                                                    in_stock=in_stock, page=page, per_page=PER_PAGE)
    pages = max(1, -(-min(total, PublicCatalog.COUNT_LIMIT) // PER_PAGE))
    return render_template("catalog/home.html", rows=rows, query=query, total=total, page=page, pages=pages,
                           count_limit=PublicCatalog.COUNT_LIMIT,
                           category=category, province=province, certification=certification, in_stock=in_stock,
                           provinces=address.provinces())


@bp.get("/htx/<slug>")
def storefront(slug: str):
    from kernel import address

    cooperative, products, certifications = PublicCatalog(get_session()).storefront(slug)
    return render_template("catalog/storefront.html", cooperative=cooperative, products=products,
                           certifications=certifications, commune=address.ward_name(cooperative.ward_code),
                           province=address.province_name(cooperative.province_code))


@bp.get("/media/products/<name>")
def product_photo(name: str):
    from pathlib import Path

    from flask import abort, send_from_directory

    if not re.fullmatch(r"\d+-[0-9a-f]{12}\.jpg", name):
        abort(404)
    response = send_from_directory(Path(current_app.instance_path) / "media" / "products", name, mimetype="image/jpeg")
    response.cache_control.public = True
    response.cache_control.max_age = 31536000  # the name changes with the content
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/p/gtin/<gtin>/photo")
def product_photo_by_gtin(gtin: str):
    from flask import abort

    product, _cooperative = PublicCatalog(get_session()).product_by_gtin(gtin)
    if not product.photo:
        abort(404)
    return redirect(url_for(".product_photo", name=product.photo))


@bp.get("/p/<int:product_id>")
def product(product_id: int):
    catalog = PublicCatalog(get_session())
    product, cooperative = catalog.product(product_id)
    batches = catalog.batches_in_stock(product_id)
    return render_template("catalog/product.html", product=product, cooperative=cooperative, batches=batches)


@bp.get("/p/gtin/<gtin>")
def product_by_gtin(gtin: str):
    product, _cooperative = PublicCatalog(get_session()).product_by_gtin(gtin)
    return redirect(url_for(".product", product_id=product.id))


# -- back office ---------------------------------------------------------------------------------
@bp.get("/htx/")
@requires("coop:product:read")
def backoffice_home():
    from flask_wtf import FlaskForm

    service = _backoffice()
    cooperative = service.cooperative()
    _c, _p, certifications = PublicCatalog(get_session()).storefront(cooperative.slug) if cooperative.status == "approved" else (None, None, [])
    return render_template("catalog/backoffice_home.html", cooperative=cooperative, products=service.products(),
                           certifications=certifications, form=FlaskForm())


@bp.route("/htx/products/new", methods=["GET", "POST"])
@requires("coop:product:write")
def new_product():
    form = ProductForm()
    if form.validate_on_submit():
        try:
            data = schema_from_form(ProductCreate, form)
            product = _backoffice().create_product(data)
        except (ValidationError, ServiceError) as error:
            apply_errors(form, error)
        else:
            flash(gettext("Product created with GTIN %(gtin)s.", gtin=product.gtin), "success")
            return redirect(url_for(".backoffice_product", product_id=product.id), 303)
    return render_template("catalog/product_form.html", form=form), 400 if form.errors else 200


@bp.get("/htx/products/<int:product_id>")
@requires("coop:product:read")
def backoffice_product(product_id: int):
    from flask_wtf import FlaskForm

    service = _backoffice()
    return render_template(
        "catalog/backoffice_product.html", product=service.product(product_id), batches=service.batches(product_id),
        form=FlaskForm(), errors={},
    )


@bp.post("/htx/products/<int:product_id>")
@requires("coop:product:write")
def update_product(product_id: int):
    from pathlib import Path

    from flask_wtf import FlaskForm

    service = _backoffice()
    form = FlaskForm()
    errors: dict[str, str] = {}
    if not form.validate_on_submit():
        errors["photo"] = gettext("Your form expired. Please try again.")
    else:
        try:
            if "ocop_stars" in request.form:
                raw_stars = request.form.get("ocop_stars", "").strip()
                if raw_stars and not raw_stars.isdigit():
                    raise ServiceError(gettext("OCOP products have 3, 4 or 5 stars."), field="ocop_stars")
                service.set_ocop(product_id, int(raw_stars) if raw_stars else None, request.form.get("ocop_decision", ""))
            upload = request.files.get("photo")
            if upload and upload.filename:  # last: the file is the one thing a rollback cannot undo
                service.set_photo(product_id, upload.read(service.MAX_PHOTO_BYTES + 1), Path(current_app.instance_path) / "media" / "products")
        except ServiceError as error:
            errors[error.field or "photo"] = error.message
    if errors:
        return render_template("catalog/backoffice_product.html", product=service.product(product_id),
                               batches=service.batches(product_id), form=form, errors=errors), 400
    flash(gettext("Product updated."), "success")
    return redirect(url_for(".backoffice_product", product_id=product_id), 303)


@bp.post("/htx/certifications")
@requires("coop:product:write")
def add_certification():
    from datetime import date as date_type

    from flask_wtf import FlaskForm

    if not FlaskForm().validate_on_submit():
        flash(gettext("Your form expired. Please try again."), "error")
        return redirect(url_for(".backoffice_home"), 303)
    valid_until = None
    if request.form.get("valid_until"):
        try:
            valid_until = date_type.fromisoformat(request.form["valid_until"])
        except ValueError:
            flash(gettext("Enter the date."), "error")
            return redirect(url_for(".backoffice_home"), 303)
    try:
        _backoffice().add_certification(request.form.get("name", ""), request.form.get("number", ""),
                                        request.form.get("issued_by", ""), valid_until)
    except ServiceError as error:
        flash(error.message, "error")
    return redirect(url_for(".backoffice_home"), 303)


@bp.route("/htx/products/<int:product_id>/batches/new", methods=["GET", "POST"])
@requires("coop:batch:write")
def new_batch(product_id: int):
    service = _backoffice()
    product = service.product(product_id)
    form = BatchForm()
    if form.validate_on_submit():
        try:
            data = schema_from_form(BatchCreate, form)
            batch = service.create_batch(product_id, data)
        except (ValidationError, ServiceError) as error:
            apply_errors(form, error)
        else:
            flash(gettext("Batch %(lot)s recorded and its origin signed.", lot=batch.lot), "success")
            return redirect(url_for(".backoffice_batch", batch_id=batch.id), 303)
    return render_template("catalog/batch_form.html", form=form, product=product), 400 if form.errors else 200


@bp.get("/htx/batches/<int:batch_id>")
@requires("coop:product:read")
def backoffice_batch(batch_id: int):
    service = _backoffice()
    return _batch_page(service, service.batch(batch_id), _event_form(service))


def _batch_page(service: CatalogService, batch, event_form: TraceEventForm) -> str:
    """The batch page of the back office, with the event form as given (fresh or with errors)."""
    product = service.product(batch.product_id)
    link = gs1.DigitalLink(gtin=product.gtin, lot=batch.lot)
    return render_template(
        "catalog/backoffice_batch.html", batch=batch, product=product, link=link,
        uri=link.uri(current_app.config["PUBLIC_BASE_URL"]), findings=service.findings(batch.id),
        event_form=event_form, recall_form=RecallForm(), **_insights(service, batch.id),
    )


def _insights(service: CatalogService, batch_id: int) -> dict:
    from shop.charts import bar_chart
    from traceability.services import scan_service

    data = service.insights(batch_id, scan_service(get_session()))
    chart = bar_chart([(day.strftime("%d/%m"), count) for day, count in data["daily"]], title=gettext("Scans per day"))
    return {"scan_chart": chart, "scan_total": sum(c for _d, c in data["daily"]), "alerts": data["alerts"], "reports": data["reports"]}


def _event_form(service: CatalogService) -> TraceEventForm:
    form = TraceEventForm()
    form.output_product_id.choices = [(0, "—")] + [(p.id, p.name) for p in service.products()]
    return form


@bp.post("/htx/batches/<int:batch_id>/events")
@requires("coop:batch:write")
def add_event(batch_id: int):
    service = _backoffice()
    batch = service.batch(batch_id)
    form = _event_form(service)
    if form.validate_on_submit():
        try:
            data = schema_from_form(TraceEventCreate, form)
            data.passed = form.passed.data == "1"
            data.output_product_id = form.output_product_id.data or None
            service.record_event(batch_id, data)
        except (ValidationError, ServiceError) as error:
            apply_errors(form, error)
        else:
            flash(gettext("Event signed and added to the batch's record."), "success")
            return redirect(url_for(".backoffice_batch", batch_id=batch_id), 303)
    return _batch_page(service, batch, form), 400


@bp.post("/htx/batches/<int:batch_id>/recall")
@requires("trace:batch:recall")
def recall_batch(batch_id: int):
    service = _backoffice()
    form = RecallForm()
    if not form.validate_on_submit():
        flash(gettext("Give the reason for the recall (at least 5 characters)."), "error")
        return redirect(url_for(".backoffice_batch", batch_id=batch_id), 303)
    service.recall_batch(batch_id, form.reason.data, actor=f"member:{current_user.id}")
    flash(gettext("The batch is recalled. Buyers who ordered it are being alerted."), "success")
    return redirect(url_for(".backoffice_batch", batch_id=batch_id), 303)


@bp.route("/htx/api-keys", methods=["GET", "POST"])
@requires("coop:product:write")
def api_keys():
    from flask_wtf import FlaskForm

    from shop.accounts.apikeys import ApiKeyService

    service = ApiKeyService(get_session())
    form = FlaskForm()
    new_key = None
    if request.method == "POST" and form.validate_on_submit():
        try:
            if request.form.get("revoke"):
                service.revoke("cooperative", current_user.cooperative_id, request.form["revoke"])
                flash(gettext("Key revoked."), "success")
            else:
                _key, new_key = service.create("cooperative", current_user.cooperative_id, request.form.get("name", ""), current_user.id)
        except ServiceError as error:
            flash(error.message, "error")
    keys = service.list_for("cooperative", current_user.cooperative_id)
    return render_template("catalog/api_keys.html", keys=keys, new_key=new_key, form=form)


@bp.route("/htx/batches/<int:batch_id>/labels", methods=["GET", "POST"])
@requires("coop:batch:write")
def new_labels(batch_id: int):
    from flask_wtf import FlaskForm

    from traceability import labels

    service = _backoffice()
    batch = service.batch(batch_id)
    form = FlaskForm()
    error = None
    if request.method == "POST" and form.validate_on_submit():
        try:
            job = service.start_label_job(
                batch_id, preset=request.form.get("preset", ""), count=request.form.get("count", type=int) or 0,
                serialised=request.form.get("serialised") == "1", error_correction=request.form.get("ec", "M"))
        except ServiceError as failure:
            error = failure
        else:
            return redirect(url_for(".label_job", job_id=job.id), 303)
    return render_template("catalog/labels_new.html", batch=batch, form=form, presets=labels.PRESETS, error=error), 400 if error else 200


@bp.get("/htx/labels/<job_id>")
@requires("coop:product:read")
def label_job(job_id: str):
    job = _backoffice().label_job(job_id)
    if request.accept_mimetypes.best == "application/json" or request.args.get("format") == "json":
        return {"status": job.status, "done": job.done, "total": job.count, "warning": job.warning, "error": job.error,
                "percent": int(100 * job.done / job.count) if job.count else 100,
                "download": url_for(".label_pdf", job_id=job.id) if job.status == "done" else None}
    return render_template("catalog/label_job.html", job=job)


@bp.get("/htx/labels/<job_id>.pdf")
@requires("coop:product:read")
def label_pdf(job_id: str):
    from flask import abort, send_file

    from shop.catalog.tasks import label_pdf_path

    job = _backoffice().label_job(job_id)
    path = label_pdf_path(job.id)
    if job.status != "done" or not path.exists():
        abort(404)
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=f"nhan-{job.gtin}-{job.lot}.pdf")
