"""The registry's rules: checking entries (read by `shop.registry.values`) against each other and
the database, writing them all at once, and the queries behind the console's lists.

The form and the import share one path: both give raw values keyed by field name to
`RegistryService.plan()`, which returns every problem it finds, and `write()` writes a plan only
when no entry has a problem. Entries are `cooperative` rows with status REGISTERED plus a
`registry_profile` row; cooperatives that have applied to sell keep their own name, address and
contacts, and only their registry data changes here.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from flask_babel import gettext
from sqlalchemy import delete, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from kernel.audit.services import AuditLog
from shop.cooperatives.models import Cooperative, CooperativeKind, CooperativeStatus
from kernel.errors import Conflict, NotFound
from shop.registry.models import PendingImport, RegistryOcopProduct, RegistryProfile
from shop.registry.schemas import (
    OcopItem,
    PlannedRow,
    Problem,
    RegistryFilters,
    RegistryRow,
)
from shop.registry.values import (
    CORE_FIELDS,
    EntryParser,
    fold_key,
    format_capital,
    format_ocop,
)
from kernel.textutil import slugify
from kernel.timeutil import utcnow

# What a new entry cannot do without (province falls back to the alliance's own).
REQUIRED_FOR_NEW = ("name", "kind", "registration_no", "ward", "address")
IN_CHUNK = 500  # ids per IN (...) list, well under every database's parameter limit
MAX_EXPORT_ROWS = 50_000


class RegistryInvalid(Exception):
    """The entry has problems; the form shows each next to its field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def _chunks(items: Sequence, size: int = IN_CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class RegistryService:
    def __init__(self, session: Session, default_province: int = 92) -> None:
        self.session = session
        self.parser = EntryParser(default_province)

    # -- reading -----------------------------------------------------------------------------------
    def _filtered(self, filters: RegistryFilters):
        statement = select(Cooperative, RegistryProfile).join(
            RegistryProfile, RegistryProfile.cooperative_id == Cooperative.id, isouter=True)
        if filters.kind:
            statement = statement.where(Cooperative.kind == filters.kind)
        if filters.sector:
            statement = statement.where(RegistryProfile.sector == filters.sector)
        if filters.province_code:
            statement = statement.where(Cooperative.province_code == filters.province_code)
        if filters.ward_code:
            statement = statement.where(Cooperative.ward_code == filters.ward_code)
        if filters.status:
            statement = statement.where(Cooperative.status == filters.status)
        if filters.q.strip():
            # The slug is the folded name, so 'hanh tim' finds 'Hành tím'; registration numbers as typed.
            words = slugify(filters.q)
            conditions = [func.upper(Cooperative.registration_no).contains(filters.q.strip().upper())]
            if words:
                conditions.append(Cooperative.slug.contains(words))  # type: ignore[attr-defined]
            statement = statement.where(or_(*conditions))
        return statement

    def search(self, filters: RegistryFilters, page: int = 1, per_page: int = 50) -> tuple[list[RegistryRow], int]:
        statement = self._filtered(filters)
        total = self.session.exec(select(func.count()).select_from(statement.subquery())).one()
        pairs = self.session.exec(statement.order_by(Cooperative.slug, Cooperative.id)
                                  .offset((page - 1) * per_page).limit(per_page)).all()
        return self._rows(pairs), total

    def export_rows(self, filters: RegistryFilters) -> list[RegistryRow]:
        pairs = self.session.exec(self._filtered(filters).order_by(Cooperative.slug, Cooperative.id).limit(MAX_EXPORT_ROWS)).all()
        return self._rows(pairs)

    def members(self, union_id: int) -> list[RegistryRow]:
        union = self._cooperative(union_id)
        if union.kind != CooperativeKind.UNION:
            return []
        pairs = self.session.exec(
            select(Cooperative, RegistryProfile).join(RegistryProfile, RegistryProfile.cooperative_id == Cooperative.id)
            .where(RegistryProfile.union_id == union_id).order_by(Cooperative.slug, Cooperative.id)).all()
        return self._rows(pairs)

    def row(self, cooperative_id: int) -> RegistryRow:
        cooperative = self._cooperative(cooperative_id)
        profile = self.session.get(RegistryProfile, cooperative_id)
        return self._rows([(cooperative, profile)])[0]

    def unions(self) -> list[Cooperative]:
        return list(self.session.exec(select(Cooperative).where(Cooperative.kind == CooperativeKind.UNION)
                                      .order_by(Cooperative.slug)))

    def _cooperative(self, cooperative_id: int) -> Cooperative:
        cooperative = self.session.get(Cooperative, cooperative_id)
        if cooperative is None:
            raise NotFound(gettext("Cooperative not found."))
        return cooperative

    def _rows(self, pairs: Sequence) -> list[RegistryRow]:
        ids = [cooperative.id for cooperative, _profile in pairs]
        union_ids = sorted({profile.union_id for _c, profile in pairs if profile is not None and profile.union_id})
        unions: dict[int, tuple[str, str]] = {}
        for chunk in _chunks(union_ids):
            for union_id, name, registration_no in self.session.exec(
                    select(Cooperative.id, Cooperative.name, Cooperative.registration_no).where(Cooperative.id.in_(chunk))):
                unions[union_id] = (name, registration_no)
        ocop: dict[int, list[OcopItem]] = {}
        for chunk in _chunks(ids):
            for product in self.session.exec(select(RegistryOcopProduct).where(RegistryOcopProduct.cooperative_id.in_(chunk))
                                             .order_by(RegistryOcopProduct.id)):
                ocop.setdefault(product.cooperative_id, []).append(OcopItem(name=product.name, stars=product.stars))
        rows = []
        for cooperative, profile in pairs:
            row = RegistryRow(
                id=cooperative.id, name=cooperative.name, kind=cooperative.kind, registration_no=cooperative.registration_no,
                status=cooperative.status, province_code=cooperative.province_code, ward_code=cooperative.ward_code,
                address=cooperative.address, legal_representative=cooperative.legal_representative, phone=cooperative.phone,
                email=cooperative.email, ocop_products=ocop.get(cooperative.id, []))
            if profile is not None:
                row.sector, row.founded_on, row.member_count = profile.sector, profile.founded_on, profile.member_count
                row.charter_capital_vnd, row.certifications = profile.charter_capital_vnd, profile.certifications
                row.survey_notes, row.union_id = profile.survey_notes, profile.union_id
                if profile.union_id in unions:
                    row.union_name, row.union_registration_no = unions[profile.union_id]
            rows.append(row)
        return rows

    @staticmethod
    def form_values(row: RegistryRow) -> dict[str, str]:
        """An entry as the form shows it: the text the parser reads back to the same values."""
        return {
            "name": row.name, "kind": row.kind, "registration_no": row.registration_no, "province": str(row.province_code),
            "ward": str(row.ward_code), "address": row.address, "legal_representative": row.legal_representative,
            "phone": row.phone, "email": row.email or "", "sector": row.sector,
            "founded_on": row.founded_on.strftime("%d/%m/%Y") if row.founded_on else "",
            "member_count": "" if row.member_count is None else str(row.member_count),
            "charter_capital_vnd": format_capital(row.charter_capital_vnd), "certifications": row.certifications,
            "ocop_products": format_ocop(row.ocop_products).replace("; ", "\n"), "union": row.union_registration_no,
            "survey_notes": row.survey_notes,
        }

    # -- checking ----------------------------------------------------------------------------------
    def plan(self, entries: Sequence[tuple[int | None, dict[str, Any]]], *, target_id: int | None = None,
             new_only: bool = False) -> list[PlannedRow]:
        """Read and check every entry. `entries` are (spreadsheet row or None, raw values by field);
        `target_id` is the cooperative the form edits, `new_only` says the form creates one; an
        import matches rows to the registry by registration number."""
        planned: list[PlannedRow] = []
        first_row_of: dict[str, int | None] = {}
        for row_no, raw in entries:
            values, problems = self.parser.parse(raw)
            item = PlannedRow(row=row_no, values=values, problems=problems)
            registration_no = values.get("registration_no")
            if registration_no:
                if registration_no in first_row_of:
                    item.problems.append(Problem("registration_no", gettext(
                        "Registration number %(number)s is also on row %(row)s of this file.",
                        number=registration_no, row=first_row_of[registration_no])))
                else:
                    first_row_of[registration_no] = row_no
            planned.append(item)

        existing = self._existing({item.values["registration_no"] for item in planned if item.values.get("registration_no")})
        if target_id is not None:
            target = self._cooperative(target_id)
            for item in planned:
                taken = existing.get(item.values.get("registration_no", ""))
                if taken is not None and taken.id != target_id:
                    item.problems.append(Problem("registration_no", gettext("A cooperative with this registration number exists.")))
                item.existing_id, item.existing_status = target.id, target.status
            existing = {target.registration_no.upper(): target, **existing}
            by_id = {target.id: target}
        else:
            for item in planned:
                match = existing.get(item.values.get("registration_no", ""))
                if match is not None and new_only:
                    item.problems.append(Problem("registration_no", gettext("A cooperative with this registration number exists.")))
                elif match is not None:
                    item.existing_id, item.existing_status = match.id, match.status
            by_id = {cooperative.id: cooperative for cooperative in existing.values()}

        for item in planned:
            if item.action == "create":
                refused = {p.field for p in item.problems}
                for name in REQUIRED_FOR_NEW:
                    if name == "ward" and ("ward_code" in item.values or "province" in refused):
                        continue
                    if name not in refused and name not in item.values:
                        item.problems.append(Problem(name, gettext("This field is required.")))
            elif item.existing_status != CooperativeStatus.REGISTERED:
                self._keep_applicants_own_details(item, by_id[item.existing_id])
        self._check_unions(planned, by_id)
        return planned

    def _existing(self, registration_numbers: set[str]) -> dict[str, Cooperative]:
        found: dict[str, Cooperative] = {}
        for chunk in _chunks(sorted(registration_numbers)):
            for cooperative in self.session.exec(select(Cooperative).where(func.upper(Cooperative.registration_no).in_(chunk))):
                found[cooperative.registration_no.upper()] = cooperative
        return found

    @staticmethod
    def _keep_applicants_own_details(item: PlannedRow, cooperative: Cooperative) -> None:
        """A cooperative that applied to sell keeps its own identity and contacts (its certificate
        names it); the registry only adds what the alliance knows about it."""
        current = {"name": cooperative.name, "kind": cooperative.kind, "province_code": cooperative.province_code,
                   "ward_code": cooperative.ward_code, "address": cooperative.address,
                   "legal_representative": cooperative.legal_representative, "phone": cooperative.phone,
                   "email": cooperative.email}
        differs = any(name in item.values and item.values[name] != value for name, value in current.items())
        for name in current:
            item.values.pop(name, None)
        item.problems = [p for p in item.problems if p.field not in CORE_FIELDS or p.field == "registration_no"]
        if differs:
            item.notes.append(gettext("Applied to sell: its name, address and contacts stay as the cooperative keeps "
                                      "them; only the registry data is updated."))

    def _check_unions(self, planned: list[PlannedRow], by_id: dict[int, Cooperative]) -> None:
        def kind_of(item: PlannedRow) -> str | None:
            if "kind" in item.values:
                return item.values["kind"]
            return by_id[item.existing_id].kind if item.existing_id else None

        in_file = {item.values["registration_no"]: item for item in planned if item.values.get("registration_no")}
        stored = list(self.session.exec(select(Cooperative).where(Cooperative.kind == CooperativeKind.UNION)))
        stored_by_no = {union.registration_no.upper(): union for union in stored}
        stored_by_name: dict[str, list[Cooperative]] = {}
        for union in stored:
            stored_by_name.setdefault(fold_key(union.name), []).append(union)
        file_by_name: dict[str, list[PlannedRow]] = {}
        for item in planned:
            if kind_of(item) == CooperativeKind.UNION and item.values.get("name"):
                file_by_name.setdefault(fold_key(item.values["name"]), []).append(item)

        for item in planned:
            reference = item.values.get("union")
            if not reference:
                continue
            if kind_of(item) == CooperativeKind.UNION:
                item.problems.append(Problem("union", gettext("A union cannot belong to another union.")))
                continue
            resolved: str | None = None
            number = reference.upper()
            if number in in_file:
                if kind_of(in_file[number]) == CooperativeKind.UNION:
                    resolved = number
                else:
                    item.problems.append(Problem("union", gettext("%(name)s is not a union of cooperatives.", name=reference)))
                    continue
            elif number in stored_by_no:
                resolved = number
            else:
                named = file_by_name.get(fold_key(reference), []) or stored_by_name.get(fold_key(reference), [])
                numbers = {(n.values["registration_no"] if isinstance(n, PlannedRow) else n.registration_no.upper()) for n in named}
                if len(numbers) == 1:
                    resolved = numbers.pop()
                elif numbers:
                    item.problems.append(Problem("union", gettext(
                        "Several unions are named %(name)s: write the union's registration number.", name=reference)))
                    continue
            if resolved is None:
                item.problems.append(Problem("union", gettext(
                    "No union with the registration number or name %(name)s is on the registry or in this file.",
                    name=reference)))
                continue
            becoming = in_file.get(resolved)
            if becoming is not None and kind_of(becoming) != CooperativeKind.UNION:
                item.problems.append(Problem("union", gettext("%(name)s is not a union of cooperatives.", name=reference)))
                continue
            item.values["union_registration_no"] = resolved

        # A union that still has members cannot become something else.
        leaving = [item for item in planned if item.existing_id and by_id[item.existing_id].kind == CooperativeKind.UNION
                   and kind_of(item) != CooperativeKind.UNION]
        for item in leaving:
            members = self.session.exec(select(func.count()).select_from(RegistryProfile)
                                        .where(RegistryProfile.union_id == item.existing_id)).one()
            if members:
                item.problems.append(Problem("kind", gettext(
                    "This union still has %(count)d members: move them to another union first.", count=members)))

    # -- writing -----------------------------------------------------------------------------------
    def write(self, planned: Sequence[PlannedRow]) -> tuple[list[Cooperative], dict[str, dict]]:
        """Write a plan without problems, all or nothing: (the new cooperatives, changes by
        registration number of the updated ones as {field: [before, after]})."""
        if any(item.problems for item in planned):
            raise RegistryInvalid([problem for item in planned for problem in item.problems])
        try:
            with self.session.begin_nested():
                return self._write(planned)
        except IntegrityError as error:
            # Someone else wrote the same registration number between the check and the write.
            raise Conflict(gettext("The registry changed while this was being saved. Please check and try again."),
                           field="registration_no") from error

    def _write(self, planned: Sequence[PlannedRow]) -> tuple[list[Cooperative], dict[str, dict]]:
        creates = [item for item in planned if item.action == "create"]
        updates = [item for item in planned if item.action == "update"]
        created: list[Cooperative] = []
        if creates:
            taken = set(self.session.exec(select(Cooperative.slug)))
            for item in creates:
                values = item.values
                cooperative = Cooperative(
                    slug=self._unique_slug(values["name"], taken), name=values["name"], kind=values["kind"],
                    registration_no=values["registration_no"], province_code=values["province_code"],
                    ward_code=values["ward_code"], address=values["address"],
                    legal_representative=values.get("legal_representative", ""), phone=values.get("phone", ""),
                    email=values.get("email"), status=CooperativeStatus.REGISTERED)
                created.append(cooperative)
            self.session.add_all(created)
            self.session.flush()

        update_ids = [item.existing_id for item in updates]
        cooperatives: dict[int, Cooperative] = {c.id: c for c in created}
        profiles: dict[int, RegistryProfile] = {}
        ocop_before: dict[int, list[OcopItem]] = {}
        for chunk in _chunks(update_ids):
            for cooperative in self.session.exec(select(Cooperative).where(Cooperative.id.in_(chunk))):
                cooperatives[cooperative.id] = cooperative
            for profile in self.session.exec(select(RegistryProfile).where(RegistryProfile.cooperative_id.in_(chunk))):
                profiles[profile.cooperative_id] = profile
            for product in self.session.exec(select(RegistryOcopProduct).where(RegistryOcopProduct.cooperative_id.in_(chunk))
                                             .order_by(RegistryOcopProduct.id)):
                ocop_before.setdefault(product.cooperative_id, []).append(OcopItem(name=product.name, stars=product.stars))

        union_numbers = sorted({item.values["union_registration_no"] for item in planned if item.values.get("union_registration_no")})
        union_ids = {c.registration_no: c.id for c in created}
        for chunk in _chunks(union_numbers):
            for union_id, number in self.session.exec(select(Cooperative.id, Cooperative.registration_no)
                                                      .where(func.upper(Cooperative.registration_no).in_(chunk))):
                union_ids[number.upper()] = union_id

        created_for = {id(item): cooperative for item, cooperative in zip(creates, created)}
        changes: dict[str, dict] = {}
        new_profiles: list[RegistryProfile] = []
        replaced_ocop: list[int] = []
        new_ocop: list[RegistryOcopProduct] = []
        for item in planned:
            values = item.values
            cooperative = cooperatives[item.existing_id] if item.existing_id else created_for[id(item)]
            before = self._snapshot(cooperative, profiles.get(cooperative.id), ocop_before.get(cooperative.id, [])) \
                if item.existing_id else {}
            if item.existing_id:
                for name in ("name", "kind", "registration_no", "province_code", "ward_code", "address",
                             "legal_representative", "phone", "email"):
                    if name in values:
                        setattr(cooperative, name, values[name])
            profile = profiles.get(cooperative.id)
            if profile is None:
                profile = RegistryProfile(cooperative_id=cooperative.id)
                new_profiles.append(profile)
            for name in ("sector", "founded_on", "member_count", "charter_capital_vnd", "certifications", "survey_notes"):
                if name in values:
                    setattr(profile, name, values[name])
            if "union" in values:
                profile.union_id = union_ids.get(values.get("union_registration_no") or "")
            profile.updated_at = utcnow()
            if "ocop_products" in values:
                if item.existing_id:
                    replaced_ocop.append(cooperative.id)
                new_ocop.extend(RegistryOcopProduct(cooperative_id=cooperative.id, name=o.name, stars=o.stars)
                                for o in values["ocop_products"])
            if item.existing_id:
                after = self._snapshot(cooperative, profile, values.get("ocop_products", ocop_before.get(cooperative.id, [])))
                diff = {name: [before.get(name), value] for name, value in after.items() if before.get(name) != value}
                if diff:
                    changes[cooperative.registration_no] = diff
        for chunk in _chunks(replaced_ocop):
            self.session.exec(delete(RegistryOcopProduct).where(RegistryOcopProduct.cooperative_id.in_(chunk)))
        self.session.add_all(new_profiles)
        self.session.add_all(new_ocop)
        self.session.flush()
        return created, changes

    @staticmethod
    def _unique_slug(name: str, taken: set[str]) -> str:
        slug = base = slugify(name)[:72] or "htx"
        counter = 1
        while slug in taken:
            counter += 1
            slug = f"{base}-{counter}"
        taken.add(slug)
        return slug

    @staticmethod
    def _snapshot(cooperative: Cooperative, profile: RegistryProfile | None, ocop: Sequence[OcopItem]) -> dict[str, Any]:
        union_id = profile.union_id if profile else None
        return {
            "name": cooperative.name, "kind": cooperative.kind, "registration_no": cooperative.registration_no,
            "province_code": cooperative.province_code, "ward_code": cooperative.ward_code, "address": cooperative.address,
            "legal_representative": cooperative.legal_representative, "phone": cooperative.phone, "email": cooperative.email,
            "sector": profile.sector if profile else "", "founded_on": profile.founded_on.isoformat() if profile and profile.founded_on else None,
            "member_count": profile.member_count if profile else None,
            "charter_capital_vnd": profile.charter_capital_vnd if profile else None,
            "certifications": profile.certifications if profile else "", "survey_notes": profile.survey_notes if profile else "",
            "union_id": union_id, "ocop_products": format_ocop(ocop, "vi"),
        }

    # -- the form ----------------------------------------------------------------------------------
    def save(self, raw: dict[str, Any], cooperative_id: int | None = None) -> Cooperative:
        """Create (no id) or edit one entry from the console form, recorded in the audit log."""
        planned = self.plan([(None, raw)], target_id=cooperative_id, new_only=cooperative_id is None)
        created, changes = self.write(planned)
        audit = AuditLog(self.session)
        if created:
            cooperative = created[0]
            audit.record("registry.create", "cooperative", cooperative.id, after=self._snapshot(
                cooperative, self.session.get(RegistryProfile, cooperative.id), planned[0].values.get("ocop_products", [])),
                cooperative_id=cooperative.id)
            return cooperative
        cooperative = self._cooperative(cooperative_id)  # type: ignore[arg-type]
        change = changes.get(cooperative.registration_no)
        if change:
            audit.record("registry.update", "cooperative", cooperative.id,
                         before={name: pair[0] for name, pair in change.items()},
                         after={name: pair[1] for name, pair in change.items()}, cooperative_id=cooperative.id)
        return cooperative


class PendingImports:
    """Uploaded files waiting between preview and confirmation: in the database, so any web
    process can confirm, and never in the session cookie. Each belongs to the person who uploaded it."""

    LIFETIME = timedelta(hours=24)

    def __init__(self, session: Session) -> None:
        self.session = session

    def save(self, user_id: int, filename: str, content: bytes) -> PendingImport:
        self.session.exec(delete(PendingImport).where(PendingImport.created_at < utcnow() - self.LIFETIME))
        pending = PendingImport(id=secrets.token_urlsafe(24), user_id=user_id, filename=filename[:200] or "upload",
                                content=content)
        self.session.add(pending)
        self.session.flush()
        return pending

    def get(self, token: str, user_id: int) -> PendingImport:
        pending = self.session.get(PendingImport, token[:43]) if re.fullmatch(r"[A-Za-z0-9_\-]{1,43}", token) else None
        if pending is None or pending.user_id != user_id or pending.created_at < utcnow() - self.LIFETIME:
            raise NotFound(gettext("This upload has expired or was already imported. Please upload the file again."))
        return pending

    def discard(self, pending: PendingImport) -> None:
        self.session.delete(pending)
        self.session.flush()

