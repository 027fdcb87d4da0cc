"""Catalogue rules: products, batches and their stock, always scoped to one cooperative."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask_babel import gettext
from sqlalchemy import func
from sqlmodel import Session, select

from shop.catalog.models import Batch, Product
from shop.catalog.schemas import BatchCreate, ProductCreate, TraceEventCreate
from shop.cooperatives.models import Cooperative, CooperativeStatus
from kernel.errors import NotFound, ServiceError
from kernel.i18n import LOCAL_TZ
from kernel.textutil import fold_vietnamese
from traceability import events, gs1
from traceability.schemas import BatchRef, IssuerRef
from traceability.services import CredentialService, RecallService, TraceabilityError, VerificationService


class CatalogService:
    """Back-office operations of one cooperative. Every query filters by `cooperative_id`."""

    def __init__(
        self, session: Session, cooperative_id: int, *, alliance_gs1_prefix: str, credentials: CredentialService
    ) -> None:
        self.session = session
        self.cooperative_id = cooperative_id
        self.alliance_gs1_prefix = alliance_gs1_prefix
        self.credentials = credentials

    # -- reading, scoped -------------------------------------------------------------------------
    def cooperative(self) -> Cooperative:
        cooperative = self.session.get(Cooperative, self.cooperative_id)
        if cooperative is None:
            raise NotFound(gettext("Cooperative not found."))
        return cooperative

    def products(self) -> list[Product]:
        query = select(Product).where(Product.cooperative_id == self.cooperative_id).order_by(Product.name)
        return list(self.session.exec(query))

    def product(self, product_id: int) -> Product:
        product = self.session.exec(
            select(Product).where(Product.id == product_id, Product.cooperative_id == self.cooperative_id)
        ).first()
        if product is None:
            raise NotFound(gettext("Product not found."), field="product_id")
        return product

    def batches(self, product_id: int) -> list[Batch]:
        self.product(product_id)
        query = (
            select(Batch)
            .where(Batch.product_id == product_id, Batch.cooperative_id == self.cooperative_id)
            .order_by(Batch.harvest_date.desc())
        )
        return list(self.session.exec(query))

    def batch(self, batch_id: int) -> Batch:
        batch = self.session.exec(
            select(Batch).where(Batch.id == batch_id, Batch.cooperative_id == self.cooperative_id)
        ).first()
        if batch is None:
            raise NotFound(gettext("Batch not found."), field="batch_id")
        return batch

    # -- writing ---------------------------------------------------------------------------------
    def _require_approved(self) -> Cooperative:
        cooperative = self.cooperative()
        if cooperative.status != CooperativeStatus.APPROVED:
            raise ServiceError(
                gettext("Your cooperative is not approved yet, so it cannot list products or sign records."),
                status=403,
            )
        return cooperative

    def _next_gtin(self, cooperative: Cooperative) -> str:
        prefix = cooperative.gs1_company_prefix or self.alliance_gs1_prefix
        body_start = "0" + prefix
        taken = self.session.exec(
            select(func.max(Product.gtin)).where(Product.gtin.startswith(body_start))  # type: ignore[union-attr]
        ).first()
        next_reference = int(taken[len(body_start) : 13]) + 1 if taken else 1
        try:
            return gs1.make_gtin14(prefix, next_reference)
        except gs1.GS1Error as error:
            raise ServiceError(
                gettext("No GTIN numbers are left under prefix %(prefix)s.", prefix=prefix), field="gtin"
            ) from error

    def create_product(self, data: ProductCreate) -> Product:
        cooperative = self._require_approved()
        product = Product(
            cooperative_id=self.cooperative_id,
            gtin=self._next_gtin(cooperative),
            name=data.name,
            name_ascii=fold_vietnamese(data.name),
            description=data.description,
            category=data.category,
            sale_unit=data.sale_unit,
            unit_weight_g=data.unit_weight_g,
            price_vnd=data.price_vnd,
        )
        self.session.add(product)
        self.session.flush()
        return product

    def create_batch(self, product_id: int, data: BatchCreate) -> Batch:
        cooperative = self._require_approved()
        product = self.product(product_id)
        try:
            gs1.validate_lot(data.lot)
        except gs1.GS1Error as error:
            raise ServiceError(gettext("The lot may only use letters, digits and - . / _ (at most 20)."), field="lot") from error
        today = datetime.now(LOCAL_TZ).date()
        if data.harvest_date > today:
            raise ServiceError(gettext("The harvest date cannot be in the future."), field="harvest_date")
        if data.harvest_date < today - timedelta(days=3 * 365):
            raise ServiceError(gettext("The harvest date is more than three years ago."), field="harvest_date")
        exists = self.session.exec(
            select(Batch.id).where(Batch.product_id == product.id, Batch.lot == data.lot)
        ).first()
        if exists:
            raise ServiceError(gettext("This product already has a batch with lot %(lot)s.", lot=data.lot), field="lot", status=409)
        quantity_g = int(data.quantity_kg * 1000)
        if quantity_g < product.unit_weight_g:
            raise ServiceError(gettext("The quantity is less than one sale unit."), field="quantity_kg")
        batch = Batch(
            product_id=product.id,
            cooperative_id=self.cooperative_id,
            lot=data.lot,
            harvest_date=data.harvest_date,
            plot=data.plot,
            variety=data.variety,
            cultivation_standard=data.cultivation_standard,
            quantity_g=quantity_g,
            stock_units=quantity_g // product.unit_weight_g,
        )
        self.session.add(batch)
        self.session.flush()
        self._sign_harvest(cooperative, product, batch)
        return batch

    def _sign_harvest(self, cooperative: Cooperative, product: Product, batch: Batch) -> None:
        """The origin record: an EPCIS-style commissioning event with the harvest as ILMD."""
        base = self.credentials.keys.base_url
        link = gs1.DigitalLink(gtin=product.gtin, lot=batch.lot).uri(base)
        event = events.build_event(
            events.EventKind.HARVEST,
            event_time=datetime.combine(batch.harvest_date, time(7, 0), LOCAL_TZ),
            location=cooperative_location(cooperative, base),
            quantities=[events.quantity(link, product.name, batch.quantity_g / 1000)],
            ilmd={
                "harvestDate": batch.harvest_date.isoformat(),
                "plot": batch.plot,
                "variety": batch.variety,
                "cultivationStandard": batch.cultivation_standard,
            },
        )
        issuer = IssuerRef("cooperative", cooperative.id, cooperative.name)
        self.credentials.issue(issuer, BatchRef(product.gtin, batch.lot), events.EventKind.HARVEST, event)
        self._issue_passport(cooperative, product, batch)

    def _issuer(self, cooperative: Cooperative) -> IssuerRef:
        return IssuerRef("cooperative", cooperative.id, cooperative.name)

    def _issue_passport(self, cooperative: Cooperative, product: Product, batch: Batch) -> None:
        base = self.credentials.keys.base_url
        claims = []
        if batch.cultivation_standard:
            claims.append({
                "type": ["Claim"],
                "id": f"{base}/htx/{cooperative.slug}#claim-{fold_vietnamese(batch.cultivation_standard).replace(' ', '-')}",
                "description": batch.cultivation_standard,
                "conformance": True,
                "conformityTopic": "environment.biodiversity",
                "referenceStandard": {"type": ["Standard"], "name": batch.cultivation_standard},
            })
        product_info = {
            "type": ["Product"],
            "name": product.name,
            "description": product.description or product.name,
            "productCategory": [{"type": ["Classification"], "id": f"{base}/categories/{product.category}", "code": product.category, "name": product.category,
                                 "schemeID": f"{base}/categories", "schemeName": "nongsan"}],
            "producedByParty": {"type": ["Party"], "id": f"{base}/htx/{cooperative.slug}", "name": cooperative.name},
            "productionDate": batch.harvest_date.isoformat(),
            "countryOfProduction": "VN",
        }
        self.credentials.issue_passport(self._issuer(cooperative), BatchRef(product.gtin, batch.lot), product_info, claims)

    def record_event(self, batch_id: int, data: TraceEventCreate) -> None:
        """Sign a further event (diary, processing, packing, inspection…) into the batch's chain."""
        cooperative = self._require_approved()
        batch = self.batch(batch_id)
        product = self.product(batch.product_id)
        base = self.credentials.keys.base_url
        link = gs1.DigitalLink(gtin=product.gtin, lot=batch.lot).uri(base)
        today = datetime.now(LOCAL_TZ).date()
        if data.event_date > today:
            raise ServiceError(gettext("The date cannot be in the future."), field="event_date")
        if RecallService(self.session, self.credentials).recall_of(BatchRef(product.gtin, batch.lot)):
            raise ServiceError(gettext("This batch has been recalled; no further events can be added."), field="kind", status=409)
        moment = datetime.combine(data.event_date, time(8, 0), LOCAL_TZ)
        location = cooperative_location(cooperative, base)
        details: dict = {"note": data.note} if data.note else {}
        build = dict(event_time=moment, location=location)
        if data.kind == events.EventKind.DIARY:
            if not data.input_name:
                raise ServiceError(gettext("Name the fertiliser or pesticide applied."), field="input_name")
            details.update(input=data.input_name, dose=data.dose)
            if data.pre_harvest_interval_days is not None:
                details["preHarvestIntervalDays"] = data.pre_harvest_interval_days
            build["quantities"] = [events.quantity(link, product.name, batch.quantity_g / 1000)]
        elif data.kind == events.EventKind.PROCESSING:
            if data.input_kg is None:
                raise ServiceError(gettext("Enter the kilograms that went in."), field="input_kg")
            if data.output_kg is None:
                raise ServiceError(gettext("Enter the kilograms that came out."), field="output_kg")
            output_product = self.product(data.output_product_id) if data.output_product_id else product
            output_lot = data.output_lot or batch.lot
            try:
                gs1.validate_lot(output_lot)
            except gs1.GS1Error as error:
                raise ServiceError(gettext("The lot may only use letters, digits and - . / _ (at most 20)."), field="output_lot") from error
            output_link = gs1.DigitalLink(gtin=output_product.gtin, lot=output_lot).uri(base)
            build["inputs"] = [events.quantity(link, product.name, float(data.input_kg))]
            build["outputs"] = [events.quantity(output_link, output_product.name, float(data.output_kg))]
        elif data.kind == events.EventKind.INSPECTION:
            details.update(passed=data.passed, certificateNumber=data.certificate_no, inspector=data.inspector)
            build["disposition"] = events.DISPOSITION + ("conformant" if data.passed else "non_conformant")
            build["quantities"] = [events.quantity(link, product.name, batch.quantity_g / 1000)]
        else:
            build["quantities"] = [events.quantity(link, product.name, batch.quantity_g / 1000)]
        if details:
            build["details"] = details
        event = events.build_event(data.kind, **build)
        self.credentials.issue(self._issuer(cooperative), BatchRef(product.gtin, batch.lot), data.kind, event)
        if data.kind == events.EventKind.PROCESSING:
            # The product made starts its own record with the same signed transformation, so its
            # trace page exists and points one step back to this batch.
            output = BatchRef(output_product.gtin, output_lot)
            if output != BatchRef(product.gtin, batch.lot):
                self.credentials.issue(self._issuer(cooperative), output, data.kind, event)
        self._issue_passport(cooperative, product, batch)

    def recall_batch(self, batch_id: int, reason: str, actor: str):
        """Withdraw a batch: signed recall event, 410 at the resolver, alerts to its buyers."""
        cooperative = self.cooperative()
        batch = self.batch(batch_id)
        product = self.product(batch.product_id)
        try:
            recall = RecallService(self.session, self.credentials).recall(
                self._issuer(cooperative), BatchRef(product.gtin, batch.lot), reason, actor,
                cooperative_location(cooperative, self.credentials.keys.base_url))
        except TraceabilityError as error:
            raise ServiceError(error.message, field=error.field, status=error.status) from error
        withdraw_from_sale(self.session, product.gtin, batch.lot)
        from kernel.audit.services import AuditLog

        AuditLog(self.session).record("batch.recall", "batch", f"{product.gtin}/{batch.lot}", before={"recalled": False},
                                      after={"recalled": True, "reason": reason}, cooperative_id=self.cooperative_id)
        return recall

    def insights(self, batch_id: int, scans) -> dict:
        """Scans per day, counterfeit alerts and consumers' reports for one of our batches."""
        from traceability.models import ProblemReport, ScanAlert

        batch = self.batch(batch_id)
        product = self.product(batch.product_id)
        alerts = self.session.exec(select(ScanAlert).where(ScanAlert.gtin == product.gtin, ScanAlert.lot == batch.lot)
                                   .order_by(ScanAlert.created_at.desc()).limit(50)).all()  # type: ignore[attr-defined]
        reports = self.session.exec(select(ProblemReport).where(ProblemReport.gtin == product.gtin, ProblemReport.lot == batch.lot)
                                    .order_by(ProblemReport.created_at.desc()).limit(50)).all()  # type: ignore[attr-defined]
        return {"daily": scans.daily(product.gtin, batch.lot, 30), "alerts": alerts, "reports": reports}

    MAX_PHOTO_BYTES = 5 * 1024 * 1024
    PHOTO_FORMATS = {"JPEG", "PNG", "WEBP"}

    def set_photo(self, product_id: int, upload: bytes, media_dir) -> str:
        """Accept a photo only if Pillow recognises it as JPEG, PNG or WebP (never SVG or HTML),
        then re-encode it: a fresh JPEG at most 1200 px, without the original's metadata."""
        import hashlib
        import io

        from PIL import Image, UnidentifiedImageError

        product = self.product(product_id)
        if not upload:
            raise ServiceError(gettext("Choose a photo to upload."), field="photo")
        if len(upload) > self.MAX_PHOTO_BYTES:
            raise ServiceError(gettext("The photo is larger than 5 MB."), field="photo")
        try:
            with Image.open(io.BytesIO(upload)) as probe:
                kind = probe.format
                probe.verify()
            if kind not in self.PHOTO_FORMATS:
                raise ServiceError(gettext("Upload a JPEG, PNG or WebP photo."), field="photo")
            with Image.open(io.BytesIO(upload)) as image:
                image = image.convert("RGB")
                image.thumbnail((1200, 1200))
                out = io.BytesIO()
                image.save(out, format="JPEG", quality=85, optimize=True)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
            raise ServiceError(gettext("Upload a JPEG, PNG or WebP photo."), field="photo") from error
        data = out.getvalue()
        name = f"{product.id}-{hashlib.sha256(data).hexdigest()[:12]}.jpg"
        media_dir.mkdir(parents=True, exist_ok=True)
        (media_dir / name).write_bytes(data)
        product.photo = name
        self.session.flush()
        return name

    def set_ocop(self, product_id: int, stars: int | None, decision: str) -> None:
        product = self.product(product_id)
        if stars is not None and stars not in (3, 4, 5):
            raise ServiceError(gettext("OCOP products have 3, 4 or 5 stars."), field="ocop_stars")
        if stars is not None and not decision.strip():
            raise ServiceError(gettext("Give the number of the OCOP decision."), field="ocop_decision")
        product.ocop_stars, product.ocop_decision = stars, (decision.strip()[:60] or None)
        self.session.flush()

    def add_certification(self, name: str, number: str, issued_by: str, valid_until) -> None:
        from shop.catalog.models import Certification

        self._require_approved()
        if len(name.strip()) < 2:
            raise ServiceError(gettext("Name the certificate, e.g. VietGAP."), field="name")
        self.session.add(Certification(cooperative_id=self.cooperative_id, name=name.strip()[:80], number=number.strip()[:60],
                                       issued_by=issued_by.strip()[:120], valid_until=valid_until))
        self.session.flush()

    MAX_SERIALISED_LABELS = 10_000
    MAX_BATCH_LABELS = 2_000

    def start_label_job(self, batch_id: int, *, preset: str, count: int, serialised: bool, error_correction: str = "M"):
        """Queue a label sheet; serialised labels reserve their serial numbers now."""
        import uuid

        from traceability import labels
        from traceability.models import LabelJob
        from traceability.scans import ScanService

        self._require_approved()
        batch = self.batch(batch_id)
        product = self.product(batch.product_id)
        if preset not in labels.PRESETS:
            raise ServiceError(gettext("Choose one of the label sheet sizes."), field="preset")
        if error_correction not in ("L", "M", "Q", "H"):
            raise ServiceError(gettext("Error correction must be L, M, Q or H."), field="error_correction")
        limit = self.MAX_SERIALISED_LABELS if serialised else self.MAX_BATCH_LABELS
        if not 1 <= count <= limit:
            raise ServiceError(gettext("Between 1 and %(n)d labels.", n=limit), field="count")
        job = LabelJob(id=str(uuid.uuid4()), owner_id=self.cooperative_id, gtin=product.gtin, lot=batch.lot, preset=preset,
                       serialised=serialised, count=count, error_correction=error_correction)
        if serialised:
            unit_range = ScanService(self.session, b"").issue_range(product.gtin, batch.lot, count)
            job.warning = f"serials {unit_range.start}-{unit_range.start + count - 1}"
        self.session.add(job)
        self.session.flush()
        from kernel import outbox

        outbox.enqueue(self.session, "nongsan.catalog.render_labels", job_id=job.id)
        return job

    def label_job(self, job_id: str):
        from traceability.models import LabelJob

        job = self.session.exec(select(LabelJob).where(LabelJob.id == job_id, LabelJob.owner_id == self.cooperative_id)).first()
        if job is None:
            raise NotFound(gettext("Label sheet not found."), field="job_id")
        return job

    def findings(self, batch_id: int) -> list:
        batch = self.batch(batch_id)
        product = self.product(batch.product_id)
        result = VerificationService(self.session, self.credentials.keys).verify_batch(BatchRef(product.gtin, batch.lot))
        payloads = [c.payload["credentialSubject"][0] for c in result.credentials if c.payload]
        return events.pre_harvest_findings(payloads) + events.mass_balance_findings(payloads, batch.quantity_g / 1000)


def is_recalled(session: Session, gtin: str, lot: str) -> bool:
    from traceability.models import Recall

    return session.exec(select(Recall.id).where(Recall.gtin == gtin, Recall.lot == lot)).first() is not None


def not_recalled():
    """SQL condition: the batch (joined with its product) has no recall."""
    from sqlalchemy import exists, not_

    from traceability.models import Recall

    return not_(exists().where(Recall.gtin == Product.gtin, Recall.lot == Batch.lot))


def withdraw_from_sale(session: Session, gtin: str, lot: str) -> None:
    """After a recall (by the cooperative or the alliance): nothing left to sell, buyers alerted."""
    from kernel import outbox

    batch = session.exec(
        select(Batch).join(Product, Product.id == Batch.product_id).where(Product.gtin == gtin, Batch.lot == lot)
    ).first()
    if batch is None:
        return
    batch.stock_units = 0
    session.flush()
    outbox.enqueue(session, "nongsan.orders.send_recall_alerts", batch_id=batch.id)


def cooperative_location(cooperative: Cooperative, base_url: str) -> dict:
    """Where a cooperative's events happen, as carried inside its signed events."""
    from kernel import address

    return {
        "id": f"{base_url}/htx/{cooperative.slug}",
        "name": cooperative.name,
        "address": f"{cooperative.address}, {address.ward_name(cooperative.ward_code)}, {address.province_name(cooperative.province_code)}",
        "provinceCode": cooperative.province_code,
        "wardCode": cooperative.ward_code,
    }


class PublicCatalog:
    """What anyone may see: listed products of approved cooperatives."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _visible(self):
        return (
            select(Product, Cooperative)
            .join(Cooperative, Cooperative.id == Product.cooperative_id)
            .where(Product.is_listed == True, Cooperative.status == CooperativeStatus.APPROVED)  # noqa: E712
        )

    def search(self, text: str = "", limit: int = 60) -> list[tuple[Product, Cooperative]]:
        return self.find(text, per_page=limit)[0]

    COUNT_LIMIT = 1000  # beyond this the result count says "more than 1,000"

    def find(self, text: str = "", *, category: str | None = None, province: int | None = None,
             certification: str | None = None, in_stock: bool = False, page: int = 1, per_page: int = 24):
        """Search that ignores diacritics and đ/d, ranked (whole phrase at the start, then anywhere,
        then all words), with filters and pagination.

        Every word must occur in the folded name (`name_ascii`). The candidates come from an index,
        not a scan: PostgreSQL's trigram index answers the LIKE conditions, the embedded SQLite an
        FTS5 trigram table; both then rank with the same expression, so they return the same rows in
        the same order. The count stops at COUNT_LIMIT + 1, so an empty query stays cheap however
        large the catalogue grows."""
        from sqlalchemy import case, exists, func as sqlfunc, text as sql_text

        from shop.catalog.models import Certification

        query = self._visible()
        folded = fold_vietnamese(text)[:100]
        words = folded.split()[:6]
        for word in words:
            query = query.where(Product.name_ascii.contains(word, autoescape=True))  # type: ignore[attr-defined]
        indexed = [w for w in words if len(w) >= 3]
        if indexed and self.session.get_bind().dialect.name == "sqlite":
            match = " ".join('"' + w.replace('"', '""') + '"' for w in indexed)
            query = query.where(Product.id.in_(  # type: ignore[union-attr]
                sql_text("SELECT rowid FROM product_fts WHERE product_fts MATCH :match").bindparams(match=match)))
        if category:
            query = query.where(Product.category == category)
        if province:
            query = query.where(Cooperative.province_code == province)
        if certification:
            query = query.where(exists().where(Certification.cooperative_id == Cooperative.id,
                                               sqlfunc.lower(Certification.name) == certification.lower()))
        if in_stock:
            query = query.where(exists().where(Batch.product_id == Product.id, Batch.stock_units > 0, not_recalled()))
        rank = case(
            (Product.name_ascii.startswith(folded, autoescape=True), 3),  # type: ignore[attr-defined]
            (Product.name_ascii.contains(folded, autoescape=True), 2),  # type: ignore[attr-defined]
            else_=1,
        ) if folded else None
        total = self.session.exec(select(sqlfunc.count()).select_from(
            query.with_only_columns(Product.id).limit(self.COUNT_LIMIT + 1).subquery())).one()  # type: ignore[arg-type]
        ordering = [rank.desc(), Product.name, Product.id] if rank is not None else [Product.name, Product.id]
        page = max(1, page)
        rows = list(self.session.exec(query.order_by(*ordering).offset((page - 1) * per_page).limit(per_page)))
        return rows, total

    def storefront(self, slug: str):
        from shop.catalog.models import Certification

        cooperative = self.session.exec(
            select(Cooperative).where(Cooperative.slug == slug, Cooperative.status == CooperativeStatus.APPROVED)
        ).first()
        if cooperative is None:
            raise NotFound(gettext("Cooperative not found."))
        products = list(self.session.exec(select(Product).where(Product.cooperative_id == cooperative.id,
                                                                Product.is_listed == True).order_by(Product.name)))  # noqa: E712
        certifications = list(self.session.exec(select(Certification).where(Certification.cooperative_id == cooperative.id)))
        return cooperative, products, certifications

    def profile_for_gtin(self, gtin: str):
        """The cooperative card on a scan page: who made it, where, certified by whom."""
        try:
            product, cooperative = self.product_by_gtin(gtin)
        except NotFound:
            return None
        _c, _p, certifications = self.storefront(cooperative.slug)
        return {"product": product, "cooperative": cooperative, "certifications": certifications}

    def product(self, product_id: int) -> tuple[Product, Cooperative]:
        row = self.session.exec(self._visible().where(Product.id == product_id)).first()
        if row is None:
            raise NotFound(gettext("Product not found."))
        return row

    def product_by_gtin(self, gtin: str) -> tuple[Product, Cooperative]:
        row = self.session.exec(self._visible().where(Product.gtin == gtin)).first()
        if row is None:
            raise NotFound(gettext("Product not found."))
        return row

    def batches_in_stock(self, product_id: int) -> list[Batch]:
        query = (
            select(Batch)
            .join(Product, Product.id == Batch.product_id)
            .where(Batch.product_id == product_id, Batch.stock_units > 0, not_recalled())
            .order_by(Batch.harvest_date.desc())
        )
        return list(self.session.exec(query))

    def batch_with_product(self, batch_id: int) -> tuple[Batch, Product, Cooperative]:
        row = self.session.exec(
            select(Batch, Product, Cooperative)
            .join(Product, Product.id == Batch.product_id)
            .join(Cooperative, Cooperative.id == Product.cooperative_id)
            .where(Batch.id == batch_id, Product.is_listed == True, Cooperative.status == CooperativeStatus.APPROVED,  # noqa: E712
                   not_recalled())
        ).first()
        if row is None:
            # A cooperative that is not (or no longer) approved sells nothing; say so by name.
            seller = self.session.exec(select(Cooperative).join(Batch, Batch.cooperative_id == Cooperative.id)
                                       .where(Batch.id == batch_id)).first()
            if seller is not None and seller.status != CooperativeStatus.APPROVED:
                raise NotFound(gettext("%(name)s is not selling on nongsan at the moment; remove its products from your cart.",
                                       name=seller.name), field="cart")
            raise NotFound(gettext("This batch is no longer for sale."), field="batch_id")
        return row
