"""EPCIS Event Hash ID (GS1 CBV 2.0) for EPCIS 2.0 JSON / JSON-LD events.

The Core Business Vocabulary 2.0 defines a way to name an EPCIS event by a hash
of its content, so that two parties holding the same event - possibly in
different serialisations, with keys or list members in another order, with
URN instead of Digital Link identifiers, with bare CBV words instead of full
URIs - compute the same identifier::

    ni:///sha-256;<64 lowercase hex digits>?ver=CBV2.0

The work is in building the *pre-hash string*: every relevant field of the
event is written as ``key=value`` (or just ``key`` for a structure), in a
fixed order, with values canonicalised, and everything is concatenated with
no separator.  The hash is SHA-256 over the UTF-8 bytes of that string.

This module is a fresh implementation written from the algorithm description
of the GS1 reference project (https://github.com/RalphTro/epcis-event-hash-generator,
README "Algorithm" section and the ``tests/examples/expected/CBV2.0`` test
vectors).  Where the prose and the reference implementation disagree, the
comments say which one is followed and why.

Rules applied, in short:

* Canonical property order: ``eventType``, ``eventTime``,
  ``eventTimeZoneOffset``, ``epcList``, ``parentID``, ``inputEPCList``,
  ``childEPCs``, ``quantityList``, ``childQuantityList``, ``inputQuantityList``,
  ``outputEPCList``, ``outputQuantityList``, ``action``, ``transformationID``,
  ``bizStep``, ``disposition``, ``persistentDisposition`` (``set``, ``unset``),
  ``readPoint`` (``id``), ``bizLocation`` (``id``), ``bizTransactionList``,
  ``sourceList``, ``destinationList`` (each member as ``type`` then the
  identifier), ``sensorElement`` (``sensorMetadata`` and ``sensorReport`` with
  their own fixed order; in CBV 2.0 the ``sensorElementList`` wrapper name is
  not written), ``ilmd``.
* Then, CBV 2.0 style, user extensions that sat *inside* a standard structure
  (``readPoint``, ``bizLocation``, ``sensorElement``...), each prefixed by the
  name of that structure, in the canonical order; then the event-level user
  extensions.  Extension keys are written as ``{namespace IRI}localName``.
* Members of a list, and the pieces of an extension, are sorted by plain
  code-point order (same as UTF-8 byte order).
* Not hashed: ``eventID``, ``recordTime``, ``errorDeclaration``,
  ``certificationInfo``, comments, JSON-LD keywords such as ``@context``.
* Values: surrounding whitespace trimmed; timestamps to UTC, millisecond
  precision, ``Z``; numbers without trailing zeros; ``urn:epcglobal:cbv:...``
  and bare CBV words (``"receiving"``, ``"in_transit"``, ``"po"``...) expanded
  to their ``https://ref.gs1.org/...`` URIs; GS1 CURIEs (``gs1:``, ``cbv:``)
  expanded; EPC URIs (``urn:epc:id:sgtin:...``, ``urn:epc:class:lgtin:...``,
  ``urn:epc:idpat:...``) and GS1 Digital Link URIs on any domain rewritten to
  the constrained canonical Digital Link on ``https://id.gs1.org``.

Only the standard library is used, so the function gives the same answer in
the web process, the workers and the tests.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = [
    "HASH_VERSION",
    "event_hash",
    "prehash_string",
    "document_event_hashes",
    "canonical_digital_link",
]

#: The algorithm version written after ``?ver=``.
HASH_VERSION: Final = "CBV2.0"

_HASH_PREFIX: Final = "ni:///sha-256;"

#: What may be passed as ``context``: a JSON-LD ``@context`` value (URL
#: string, object, or list of those) or a plain ``{prefix: namespace IRI}``.
JsonLdContext = Mapping[str, Any] | Sequence[Any] | str | None


# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------

# JSON-LD lets EPCIS events use bare words for standard vocabulary; the
# EPCIS 2.0 context maps exactly these words (and no others) to CBV URIs.  A
# word that is not in the list stays as written, as it would after JSON-LD
# expansion, so a private value such as "my_step" is not turned into a URI
# that GS1 never defined.
_CBV: Final = "https://ref.gs1.org/cbv/"
_GS1_VOC: Final = "https://ref.gs1.org/voc/"

_BIZ_STEPS: Final = frozenset(
    """accepting arriving assembling collecting commissioning consigning
    creating_class_instance cycle_counting decommissioning departing destroying
    disassembling dispensing encoding entering_exiting holding inspecting
    installing killing loading other packing picking receiving removing
    repackaging repairing replacing reserving retail_selling sampling
    sensor_reporting shipping staging_outbound stock_taking stocking storing
    transporting unloading unpacking void_shipping""".split()
)

_DISPOSITIONS: Final = frozenset(
    """active available completeness_verified completeness_inferred conformant
    container_closed container_open damaged destroyed dispensed disposed
    encoded expired in_progress in_transit inactive mismatch_instance
    mismatch_class mismatch_quantity needs_replacement no_pedigree_match
    non_conformant non_sellable_other partially_dispensed recalled reserved
    retail_sold returned sellable_accessible sellable_not_accessible stolen
    unavailable unknown""".split()
)

_BIZ_TRANSACTION_TYPES: Final = frozenset(
    "bol cert desadv inv pedigree po poc prodorder recadv rma testprd testres upevt".split()
)

_SOURCE_DESTINATION_TYPES: Final = frozenset("owning_party possessing_party location".split())

_MEASUREMENT_TYPES: Final = frozenset(
    """AbsoluteHumidity AbsorbedDose AbsorbedDoseRate Acceleration Radioactivity
    Altitude AmountOfSubstance AmountOfSubstancePerUnitVolume Angle
    AngularAcceleration AngularMomentum AngularVelocity Area Capacitance
    Conductance Conductivity Count Density Dimensionless DoseEquivalent
    DoseEquivalentRate DynamicViscosity ElectricCharge ElectricCurrent
    ElectricCurrentDensity ElectricFieldStrength Energy Exposure Force Frequency
    Illuminance Inductance Irradiance KinematicViscosity Length LinearMomentum
    Luminance LuminousFlux LuminousIntensity MagneticFlux MagneticFluxDensity
    MagneticVectorPotential Mass MassConcentration MassFlowRate MassPerAreaTime
    MemoryCapacity MolalityOfSolute MolarEnergy MolarMass MolarVolume Power
    Pressure RadiantFlux RadiantIntensity RelativeHumidity Resistance
    Resistivity SolidAngle SpecificVolume Speed SurfaceDensity SurfaceTension
    Temperature Time Torque Voltage Volume VolumeFlowRate VolumeFraction
    VolumetricFlux Wavenumber""".split()
)

_SENSOR_EXCEPTIONS: Final = frozenset({"ALARM_CONDITION", "ERROR_CONDITION"})

_COMPONENTS: Final = frozenset(
    """x y z axial_distance azimuth height spherical_radius polar_angle
    elevation_angle easting northing latitude longitude altitude""".split()
)


@dataclass(frozen=True)
class _Vocabulary:
    """Bare words a field may use and the URI prefix they expand with."""

    prefix: str
    words: frozenset[str]

    def expand(self, value: str) -> str:
        return self.prefix + value if value in self.words else value


_BIZ_STEP_VOC: Final = _Vocabulary(_CBV + "BizStep-", _BIZ_STEPS)
_DISPOSITION_VOC: Final = _Vocabulary(_CBV + "Disp-", _DISPOSITIONS)
_BTT_VOC: Final = _Vocabulary(_CBV + "BTT-", _BIZ_TRANSACTION_TYPES)
_SDT_VOC: Final = _Vocabulary(_CBV + "SDT-", _SOURCE_DESTINATION_TYPES)
_MEASUREMENT_VOC: Final = _Vocabulary(_GS1_VOC, _MEASUREMENT_TYPES)
_EXCEPTION_VOC: Final = _Vocabulary(_GS1_VOC, _SENSOR_EXCEPTIONS)
_COMPONENT_VOC: Final = _Vocabulary(_CBV + "Comp-", _COMPONENTS)

# The CBV 1.x URN forms of the same vocabularies (rule: URN-based standard
# vocabulary is expressed as the CBV Web URI).
_CBV_URN_PREFIXES: Final = (
    ("urn:epcglobal:cbv:bizstep:", _CBV + "BizStep-"),
    ("urn:epcglobal:cbv:disp:", _CBV + "Disp-"),
    ("urn:epcglobal:cbv:btt:", _CBV + "BTT-"),
    ("urn:epcglobal:cbv:sdt:", _CBV + "SDT-"),
    ("urn:epcglobal:cbv:er:", _CBV + "ER-"),
)


# --------------------------------------------------------------------------
# Namespaces (JSON-LD prefixes)
# --------------------------------------------------------------------------

# Prefixes every EPCIS 2.0 document may use without declaring them.  ``cbvmda``
# is written without the trailing "#" of the JSON-LD context on purpose: the
# reference vectors use the XML namespace ``urn:epcglobal:cbv:mda`` so that the
# XML and JSON forms of an ILMD field hash alike.
_WELL_KNOWN_PREFIXES: Final[Mapping[str, str]] = {
    "gs1": _GS1_VOC,
    "cbv": _CBV,
    "epcis": "https://ref.gs1.org/epcis/",
    "cbvmda": "urn:epcglobal:cbv:mda",
}

# Only GS1's own vocabularies are expanded when a CURIE appears as a *value*;
# a user CURIE such as "example:x" is opaque data and stays as written
# (reference vectors: ``component=example:x``).
_GS1_NAMESPACE_STARTS: Final = ("https://ref.gs1.org", "https://gs1.org")


def _prefixes_from_context(context: Any, into: dict[str, str]) -> None:
    """Collect ``prefix -> IRI`` pairs from a JSON-LD ``@context`` value.

    Accepts what appears in real documents: a URL string (ignored: remote
    contexts are not fetched, the standard one only defines the well-known
    prefixes above), an object, or a list of those.  A term defined as an
    object contributes its ``@id``.
    """
    if isinstance(context, Mapping):
        for prefix, definition in context.items():
            if not isinstance(prefix, str) or prefix.startswith("@"):
                continue
            if isinstance(definition, Mapping):
                definition = definition.get("@id")
            if isinstance(definition, str):
                into[prefix] = definition
    elif isinstance(context, Sequence) and not isinstance(context, str):
        for item in context:
            _prefixes_from_context(item, into)


class _Namespaces:
    """Resolves ``prefix:local`` keys and GS1 CURIE values."""

    def __init__(self, *contexts: Any) -> None:
        prefixes = dict(_WELL_KNOWN_PREFIXES)
        for context in contexts:
            _prefixes_from_context(context, prefixes)
        # The GS1 vocabulary prefix is fixed by the standard; letting a document
        # rebind it would make the same sensor type hash two ways.
        prefixes["gs1"] = _GS1_VOC
        self._prefixes = prefixes

    def key(self, name: str) -> str:
        prefix, colon, local = name.partition(":")
        if colon and prefix in self._prefixes:
            return "{" + self._prefixes[prefix] + "}" + local
        return name

    def value(self, text: str) -> str:
        prefix, colon, local = text.partition(":")
        if colon and prefix in self._prefixes:
            namespace = self._prefixes[prefix]
            if namespace.startswith(_GS1_NAMESPACE_STARTS):
                return namespace + local
        return text


# --------------------------------------------------------------------------
# Event tree
# --------------------------------------------------------------------------


@dataclass
class _Node:
    """One element of an event, shaped like its EPCIS XML binding.

    The XML and JSON bindings of EPCIS differ (a JSON array is a run of
    repeated XML elements, ``epcList`` members are ``<epc>`` elements, ...);
    the hash is defined on the common model, so JSON is first brought into
    that shape.
    """

    name: str
    value: str | None = None
    children: list[_Node] = field(default_factory=list)


# Never part of the hash: identifiers and bookkeeping that a receiver may
# add or change without the event itself changing.
_EXCLUDED_EVENT_KEYS: Final = frozenset(
    {"type", "eventID", "recordTime", "errorDeclaration", "certificationInfo"}
)
# Comments are annotations, not event data, wherever they appear.
_COMMENT_KEYS: Final = frozenset({"comment", "rdfs:comment"})

_EPC_LISTS: Final = frozenset({"epcList", "inputEPCList", "outputEPCList", "childEPCs"})
_QUANTITY_LISTS: Final = frozenset(
    {"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"}
)
# List members carrying a ``type`` plus an identifier.  Their members are
# written without an element name of their own ("type=...bizTransaction=..."),
# which is what the reference vectors show.
_TYPED_LISTS: Final = frozenset({"bizTransactionList", "sourceList", "destinationList"})


def _scalar_text(value: Any, namespaces: _Namespaces) -> str | None:
    """Text form of a JSON scalar, as the XML binding would carry it."""
    if value is None:
        return None
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).strip()
    return namespaces.value(text)


def _object_children(obj: Mapping[str, Any], namespaces: _Namespaces) -> list[_Node]:
    children: list[_Node] = []
    for key, value in obj.items():
        if not isinstance(key, str) or key.startswith(("@", "#")) or key in _COMMENT_KEYS:
            continue
        children.extend(_member_nodes(namespaces.key(key), value, namespaces))
    return children


def _member_nodes(name: str, value: Any, namespaces: _Namespaces) -> list[_Node]:
    """Nodes for one JSON member: arrays become repeated elements of one name."""
    if isinstance(value, list):
        nodes: list[_Node] = []
        for item in value:
            nodes.extend(_member_nodes(name, item, namespaces))
        return nodes
    if isinstance(value, Mapping):
        text = value.get("#text")  # XML-derived JSON may carry element text here
        return [
            _Node(
                name,
                _scalar_text(text, namespaces) if text is not None else None,
                _object_children(value, namespaces),
            )
        ]
    text = _scalar_text(value, namespaces)
    return [] if text is None else [_Node(name, text)]


def _list_nodes(value: Any, member: str, namespaces: _Namespaces) -> list[_Node]:
    """Members of a standard list, each as an element named ``member``.

    A member of the wrong shape (a string where an object belongs, say) is
    still kept, so that it shows up in the hash instead of vanishing.
    """
    items = value if isinstance(value, list) else [value]
    return [node for item in items for node in _member_nodes(member, item, namespaces)]


def _event_nodes(event: Mapping[str, Any], namespaces: _Namespaces) -> list[_Node]:
    nodes: list[_Node] = []
    for key, value in event.items():
        if key in _EXCLUDED_EVENT_KEYS or key in _COMMENT_KEYS or key.startswith(("@", "#")):
            continue
        if key in _EPC_LISTS:
            nodes.append(_Node(key, None, _list_nodes(value, "epc", namespaces)))
        elif key in _QUANTITY_LISTS:
            nodes.append(_Node(key, None, _list_nodes(value, "quantityElement", namespaces)))
        elif key in _TYPED_LISTS:
            nodes.append(_Node(key, None, _list_nodes(value, "", namespaces)))
        elif key == "sensorElementList":
            # CBV 2.0 writes each sensorElement at event level, without the
            # list name (CBV 2.1 changed this).
            nodes.extend(_list_nodes(value, "sensorElement", namespaces))
        elif key in ("readPoint", "bizLocation") and not isinstance(value, Mapping):
            # Tolerate the shorthand "readPoint": "<id>".
            nodes.append(_Node(key, None, _list_nodes(value, "id", namespaces)))
        else:
            nodes.extend(_member_nodes(namespaces.key(key), value, namespaces))
    return nodes


# --------------------------------------------------------------------------
# Canonical property order
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    """A slot of the canonical property order.

    ``members`` is None for a simple value, else the order of the children.
    ``free_form`` marks a structure whose content is all user-defined (ILMD):
    it is written in sorted order like an extension.
    """

    name: str
    members: tuple[_Field, ...] | None = None
    vocabulary: _Vocabulary | None = None
    timestamp: bool = False
    free_form: bool = False


def _quantity_list(name: str) -> _Field:
    return _Field(
        name,
        (_Field("quantityElement", (_Field("epcClass"), _Field("quantity"), _Field("uom"))),),
    )


def _typed_list(name: str, member: str, vocabulary: _Vocabulary) -> _Field:
    return _Field(name, (_Field("", (_Field("type", vocabulary=vocabulary), _Field(member))),))


_SENSOR_METADATA: Final = _Field(
    "sensorMetadata",
    (
        _Field("time", timestamp=True),
        _Field("startTime", timestamp=True),
        _Field("endTime", timestamp=True),
        _Field("deviceID"),
        _Field("deviceMetadata"),
        _Field("rawData"),
        _Field("dataProcessingMethod"),
        _Field("bizRules"),
    ),
)

_SENSOR_REPORT: Final = _Field(
    "sensorReport",
    (
        _Field("type", vocabulary=_MEASUREMENT_VOC),
        _Field("exception", vocabulary=_EXCEPTION_VOC),
        _Field("deviceID"),
        _Field("deviceMetadata"),
        _Field("rawData"),
        _Field("dataProcessingMethod"),
        _Field("time", timestamp=True),
        _Field("microorganism"),
        _Field("chemicalSubstance"),
        _Field("value"),
        _Field("component", vocabulary=_COMPONENT_VOC),
        _Field("stringValue"),
        _Field("booleanValue"),
        _Field("hexBinaryValue"),
        _Field("uriValue"),
        _Field("minValue"),
        _Field("maxValue"),
        _Field("meanValue"),
        _Field("sDev"),
        _Field("percRank"),
        _Field("percValue"),
        _Field("uom"),
        _Field("coordinateReferenceSystem"),
    ),
)

_EVENT_ORDER: Final[tuple[_Field, ...]] = (
    _Field("eventTime", timestamp=True),
    _Field("eventTimeZoneOffset"),
    _Field("epcList", (_Field("epc"),)),
    _Field("parentID"),
    _Field("inputEPCList", (_Field("epc"),)),
    _Field("childEPCs", (_Field("epc"),)),
    _quantity_list("quantityList"),
    _quantity_list("childQuantityList"),
    _quantity_list("inputQuantityList"),
    _Field("outputEPCList", (_Field("epc"),)),
    _quantity_list("outputQuantityList"),
    _Field("action"),
    _Field("transformationID"),
    _Field("bizStep", vocabulary=_BIZ_STEP_VOC),
    _Field("disposition", vocabulary=_DISPOSITION_VOC),
    _Field(
        "persistentDisposition",
        (
            _Field("set", vocabulary=_DISPOSITION_VOC),
            _Field("unset", vocabulary=_DISPOSITION_VOC),
        ),
    ),
    _Field("readPoint", (_Field("id"),)),
    _Field("bizLocation", (_Field("id"),)),
    _typed_list("bizTransactionList", "bizTransaction", _BTT_VOC),
    _typed_list("sourceList", "source", _SDT_VOC),
    _typed_list("destinationList", "destination", _SDT_VOC),
    _Field("sensorElement", (_SENSOR_METADATA, _SENSOR_REPORT)),
    _Field("ilmd", free_form=True),
)


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


def _render_extension(node: _Node) -> str:
    """``name[=value]`` followed by the node's children, sorted.

    Used for everything outside the canonical order.  Unlike a standard
    field, an empty extension element still contributes its name: its
    presence is information.
    """
    text = node.name
    value = (node.value or "").strip()
    if value:
        text += "=" + _canonical_value(value)
    return text + "".join(sorted(_render_extension(child) for child in node.children))


def _render_leaf(node: _Node, spec: _Field) -> str:
    value = (node.value or "").strip()
    if not value:
        return ""
    if spec.timestamp:
        # A value that does not parse as a timestamp is kept as written
        # rather than rejected: the hash must be computable for any event.
        return node.name + "=" + (_canonical_timestamp(value) or value)
    if spec.vocabulary is not None:
        value = spec.vocabulary.expand(value)
    return node.name + "=" + _canonical_value(value)


def _render_field(node: _Node, spec: _Field) -> tuple[str, list[str]]:
    """Render one element at its canonical slot.

    Returns the text for the ordered part and, separately, the rendered
    pieces of whatever inside it is not part of the standard (user
    extensions); CBV 2.0 appends those after the ordered part.
    """
    if spec.free_form:
        inner = (node.value or "").strip()
        text = node.name + ("=" + _canonical_value(inner) if inner else "")
        body = "".join(sorted(_render_extension(child) for child in node.children))
        return (text + body if inner or body else ""), []
    if spec.members is None:
        # A simple field that unexpectedly has structure: keep the structure
        # in the hash as an extension rather than dropping it silently.
        rest = sorted(_render_extension(child) for child in node.children)
        return _render_leaf(node, spec), rest
    inner, rest = _render_in_order(node.children, spec.members)
    stray = (node.value or "").strip()
    if stray:
        # A plain value where a structure was expected: keep it visible.
        rest = ["=" + _canonical_value(stray), *rest]
    return (node.name + inner if inner else ""), rest


def _render_in_order(nodes: list[_Node], order: Iterable[_Field]) -> tuple[str, list[str]]:
    """Ordered text for ``nodes`` plus the leftover (extension) pieces.

    Leftovers come as: leftovers of standard sub-structures, in canonical
    order and each prefixed with the structure's name; then members that
    are not standard at all, sorted.
    """
    ordered: list[str] = []
    nested_leftovers: list[str] = []
    known: set[str] = set()
    for spec in order:
        known.add(spec.name)
        texts: list[str] = []
        leftovers: list[str] = []
        for node in nodes:
            if node.name != spec.name:
                continue
            text, rest = _render_field(node, spec)
            if text:
                texts.append(text)
            if rest:
                leftovers.append(node.name + "".join(rest))
        # Several elements with one name are members of a list: order them
        # by content so the hash does not depend on the sender's order.
        ordered.extend(sorted(texts))
        nested_leftovers.extend(sorted(leftovers))
    extensions = sorted(_render_extension(node) for node in nodes if node.name not in known)
    return "".join(ordered), nested_leftovers + extensions


# --------------------------------------------------------------------------
# Value canonicalisation
# --------------------------------------------------------------------------

_WEB_URI: Final = re.compile(r"https?://", re.IGNORECASE)
_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _canonical_number(text: str) -> str | None:
    """Shortest form of a decimal number: ``"25.0"`` -> ``"25"``, ``"0.10"`` -> ``"0.1"``.

    Numbers go through a binary double on purpose: that is what the reference
    implementation does, so values such as ``1e-05`` and integers beyond 2**53
    come out exactly as in its vectors (and as in any other implementation
    that was checked against them).  Only plain decimal literals count as
    numbers; Python's ``float`` would also take "nan", "1_000" or non-ASCII
    digits, which are text here.
    """
    if _NUMBER.fullmatch(text) is None:
        return None
    number = float(text)
    if math.isinf(number):
        return None
    if number.is_integer():
        return str(int(number))
    return repr(number)


def _canonical_value(text: str) -> str:
    """Canonical form of any value outside timestamps."""
    text = text.strip()
    for urn_prefix, uri_prefix in _CBV_URN_PREFIXES:
        if text.startswith(urn_prefix):
            return uri_prefix + text[len(urn_prefix):]
    number = _canonical_number(text)
    if number is not None:
        return number
    if text.startswith("urn:epc:"):
        return _epc_uri_to_digital_link(text) or text
    if _WEB_URI.match(text):
        return canonical_digital_link(text) or text
    return text


_TIMESTAMP: Final = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt ]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]+))?)?"
    r"(?P<zone>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)


def _canonical_timestamp(text: str) -> str | None:
    """UTC, millisecond precision, ``Z``; None if ``text`` is not a timestamp.

    Extra fraction digits are rounded half-up on the fourth decimal, as the
    algorithm text states (``.1415`` -> ``.142``, ``.1425`` -> ``.143``).  The
    reference implementation rounds exact halves to even (``.1425`` ->
    ``.142``); the results differ only for such exact halves.
    """
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        return None
    parts = match.groupdict()
    fraction = parts["fraction"] or ""
    milliseconds = int(fraction[:3].ljust(3, "0"))
    if len(fraction) > 3 and fraction[3] >= "5":
        milliseconds += 1  # may reach 1000: timedelta carries into the seconds
    zone = parts["zone"]
    if zone is None or zone in ("Z", "z"):
        # EPCIS requires an offset; a timestamp without one is taken as UTC so
        # the result never depends on the machine's local time zone.
        offset = timedelta(0)
    else:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    try:
        local = datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"]),
            int(parts["minute"]),
            int(parts["second"] or 0),
            tzinfo=timezone(offset),
        )
        utc = (local + timedelta(milliseconds=milliseconds)).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


# --------------------------------------------------------------------------
# EPC URIs and GS1 Digital Link
# --------------------------------------------------------------------------

_DL_BASE: Final = "https://id.gs1.org/"

# Serial numbers, lots and other references move from the EPC URI into the
# Digital Link exactly as written, escapes included: the EPC URI already
# percent-encodes what would break a URI path ("/", "%", "#", ...).  An older
# release of the reference implementation also encoded "!()*+,:"; the current
# one and its CBV 2.0 vector "epclist_normalisation" keep them literal.


def _check_digit(digits: str) -> str:
    """GS1 mod-10 check digit: weights 3,1,3,... from the rightmost digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _with_check(digits: str) -> str:
    return digits + _check_digit(digits)


# EPC URI character set for serials and other alphanumeric references
# (TDS 2.x: GS1 AI encodable character set 82 in URI form).
_EPC_CHARS: Final = r"(?:%[0-9A-Fa-f]{2}|[!'()*+,\-.0-9:;=A-Z_a-z])"


def _company_and_reference(company: str, reference: str, total: int) -> bool:
    """The company prefix and the reference together must have ``total`` digits."""
    return 6 <= len(company) <= 12 and len(company) + len(reference) == total


def _gtin_from(company: str, item_reference: str) -> str | None:
    # The first digit of the item reference is the GTIN indicator digit.
    if not _company_and_reference(company, item_reference, 13):
        return None
    return _with_check(item_reference[:1] + company + item_reference[1:])


def _gln_like(company: str, reference: str) -> str | None:
    if not _company_and_reference(company, reference, 12):
        return None
    return _with_check(company + reference)


def _sgtin(company: str, item: str, serial: str) -> str | None:
    gtin = _gtin_from(company, item)
    return f"01/{gtin}/21/{serial}" if gtin else None


def _sscc(company: str, serial_reference: str) -> str | None:
    if not _company_and_reference(company, serial_reference, 17):
        return None
    # The first digit of the serial reference is the SSCC extension digit.
    return "00/" + _with_check(serial_reference[:1] + company + serial_reference[1:])


def _sgln(company: str, location: str, extension: str) -> str | None:
    gln = _gln_like(company, location)
    if gln is None:
        return None
    # Extension "0" means "no extension" in the EPC scheme.
    return f"414/{gln}" if extension == "0" else f"414/{gln}/254/{extension}"


def _grai(company: str, asset_type: str, serial: str) -> str | None:
    gln = _gln_like(company, asset_type)
    # GRAI: a leading zero, the 13-digit asset type with check digit, then the
    # serial appended in the same AI value.
    return f"8003/0{gln}{serial}" if gln else None


def _giai(company: str, asset: str) -> str | None:
    return f"8004/{company}{asset}" if 6 <= len(company) <= 12 else None


def _gsrn(ai: str, company: str, service: str) -> str | None:
    if not _company_and_reference(company, service, 17):
        return None
    return f"{ai}/" + _with_check(company + service)


def _gdti(company: str, document_type: str, serial: str) -> str | None:
    gln = _gln_like(company, document_type)
    return f"253/{gln}{serial}" if gln else None


def _sgcn(company: str, coupon: str, serial: str) -> str | None:
    gln = _gln_like(company, coupon)
    return f"255/{gln}{serial}" if gln else None


def _cpi(company: str, part: str, serial: str) -> str | None:
    if not 6 <= len(company) <= 12:
        return None
    return f"8010/{company}{part}/8011/{serial}"


def _ginc(company: str, consignment: str) -> str | None:
    return f"401/{company}{consignment}" if 6 <= len(company) <= 12 else None


def _gsin(company: str, shipper: str) -> str | None:
    if not _company_and_reference(company, shipper, 16):
        return None
    return "402/" + _with_check(company + shipper)


def _itip(company: str, item: str, piece: str, total: str, serial: str) -> str | None:
    gtin = _gtin_from(company, item)
    return f"8006/{gtin}{piece}{total}/21/{serial}" if gtin else None


def _upui(company: str, item: str, third_party: str) -> str | None:
    gtin = _gtin_from(company, item)
    return f"01/{gtin}/235/{third_party}" if gtin else None


def _pgln(company: str, party: str) -> str | None:
    gln = _gln_like(company, party)
    return f"417/{gln}" if gln else None


def _lgtin(company: str, item: str, lot: str) -> str | None:
    gtin = _gtin_from(company, item)
    return f"01/{gtin}/10/{lot}" if gtin else None


def _pattern_gtin(company: str, item: str) -> str | None:
    gtin = _gtin_from(company, item)
    return f"01/{gtin}" if gtin else None


def _pattern_itip(company: str, item: str, piece: str, total: str) -> str | None:
    gtin = _gtin_from(company, item)
    return f"8006/{gtin}{piece}{total}" if gtin else None


def _pattern_grai(company: str, asset_type: str) -> str | None:
    gln = _gln_like(company, asset_type)
    return f"8003/0{gln}" if gln else None


def _pattern_gdti(company: str, document_type: str) -> str | None:
    gln = _gln_like(company, document_type)
    return f"253/{gln}" if gln else None


def _pattern_sgcn(company: str, coupon: str) -> str | None:
    gln = _gln_like(company, coupon)
    return f"255/{gln}" if gln else None


def _pattern_cpi(company: str, part: str) -> str | None:
    return f"8010/{company}{part}" if 6 <= len(company) <= 12 else None


_D: Final = "([0-9]+)"
_X: Final = f"({_EPC_CHARS}+)"
_X0: Final = f"({_EPC_CHARS}*)"
_CPI_PART: Final = r"((?:%2[3DFdf]|[0-9A-Z\-])+)"

# (pattern, converter) - the groups of the pattern are the converter's arguments.
_EPC_SCHEMES: Final = tuple(
    (re.compile(pattern), converter)
    for pattern, converter in (
        (rf"urn:epc:id:sgtin:{_D}\.{_D}\.{_X}", _sgtin),
        (rf"urn:epc:id:sscc:{_D}\.{_D}", _sscc),
        (rf"urn:epc:id:sgln:{_D}\.([0-9]*)\.{_X}", _sgln),
        (rf"urn:epc:id:grai:{_D}\.([0-9]*)\.{_X}", _grai),
        (rf"urn:epc:id:giai:{_D}\.{_X}", _giai),
        (rf"urn:epc:id:gsrn:{_D}\.{_D}", lambda c, s: _gsrn("8018", c, s)),
        (rf"urn:epc:id:gsrnp:{_D}\.{_D}", lambda c, s: _gsrn("8017", c, s)),
        (rf"urn:epc:id:gdti:{_D}\.([0-9]*)\.{_X0}", _gdti),
        (rf"urn:epc:id:cpi:{_D}\.{_CPI_PART}\.([0-9]{{1,12}})", _cpi),
        (rf"urn:epc:id:sgcn:{_D}\.([0-9]*)\.([0-9]{{1,12}})", _sgcn),
        (rf"urn:epc:id:ginc:{_D}\.{_X}", _ginc),
        (rf"urn:epc:id:gsin:{_D}\.{_D}", _gsin),
        (rf"urn:epc:id:itip:{_D}\.{_D}\.([0-9]{{2}})\.([0-9]{{2}})\.{_X}", _itip),
        (rf"urn:epc:id:upui:{_D}\.{_D}\.{_X}", _upui),
        (rf"urn:epc:id:pgln:{_D}\.([0-9]*)", _pgln),
        (rf"urn:epc:class:lgtin:{_D}\.{_D}\.{_X}", _lgtin),
        (rf"urn:epc:idpat:sgtin:{_D}\.{_D}\.\*", _pattern_gtin),
        (rf"urn:epc:idpat:upui:{_D}\.{_D}\.\*", _pattern_gtin),
        (rf"urn:epc:idpat:itip:{_D}\.{_D}\.([0-9]{{2}})\.([0-9]{{2}})\.\*", _pattern_itip),
        (rf"urn:epc:idpat:grai:{_D}\.([0-9]*)\.\*", _pattern_grai),
        (rf"urn:epc:idpat:gdti:{_D}\.([0-9]*)\.\*", _pattern_gdti),
        (rf"urn:epc:idpat:sgcn:{_D}\.([0-9]*)\.\*", _pattern_sgcn),
        (rf"urn:epc:idpat:cpi:{_D}\.{_CPI_PART}\.\*", _pattern_cpi),
    )
)


def _epc_uri_to_digital_link(uri: str) -> str | None:
    """Canonical Digital Link for an EPC (pure identity, class or pattern) URI."""
    for pattern, converter in _EPC_SCHEMES:
        match = pattern.fullmatch(uri)
        if match is not None:
            path = converter(*match.groups())
            return _DL_BASE + path if path else None
    return None


# Digital Link convenience names ("/gtin/...") and their numeric AIs.
_DL_SHORT_NAMES: Final = {
    "gtin": "01", "itip": "8006", "cpid": "8010", "gln": "414", "party": "417",
    "gsrnp": "8017", "gsrn": "8018", "gcn": "255", "sscc": "00", "gdti": "253",
    "ginc": "401", "gsin": "402", "grai": "8003", "giai": "8004",
    "cpv": "22", "lot": "10", "ser": "21",
}  # fmt: skip

# Value syntax of each primary key in a constrained canonical Digital Link.
_DL_CHARS: Final = r"(?:%[0-9A-Fa-f]{2}|[\"'\-.0-9;-?A-Z_a-z])"
_DL_KEYS: Final = {
    "00": re.compile(r"[0-9]{18}"),
    "01": re.compile(r"[0-9]{14}"),
    "253": re.compile(rf"[0-9]{{13}}{_DL_CHARS}{{0,17}}"),
    "255": re.compile(r"[0-9]{13}[0-9]{0,12}"),
    "401": re.compile(rf"{_DL_CHARS}{{1,30}}"),
    "402": re.compile(r"[0-9]{17}"),
    "414": re.compile(r"[0-9]{13}"),
    "417": re.compile(r"[0-9]{13}"),
    "8003": re.compile(rf"[0-9]{{14}}{_DL_CHARS}{{0,16}}"),
    "8004": re.compile(rf"{_DL_CHARS}{{1,30}}"),
    "8006": re.compile(r"[0-9]{18}"),
    "8010": re.compile(r"(?:%2[3Ff]|[#\-/0-9A-Z]){1,30}"),
    "8017": re.compile(r"[0-9]{18}"),
    "8018": re.compile(r"[0-9]{18}"),
}
# Which key qualifiers survive, most fine-grained first: a serial makes the
# lot redundant, and the consumer product variant (22) never identifies.
_DL_QUALIFIERS: Final = {
    "01": ("21", "10", "235"),
    "8006": ("21", "10"),
    "414": ("254",),
    "8010": ("8011",),
}
_DL_DROPPED_QUALIFIERS: Final = {"01": {"22"}, "8006": {"22"}}
_DL_QUALIFIER_VALUES: Final = {
    "21": re.compile(rf"{_DL_CHARS}{{1,20}}"),
    "10": re.compile(rf"{_DL_CHARS}{{1,20}}"),
    "235": re.compile(rf"{_DL_CHARS}{{1,28}}"),
    "254": re.compile(rf"{_DL_CHARS}{{1,20}}"),
    "8011": re.compile(r"[0-9]{1,12}"),
}


def canonical_digital_link(uri: str) -> str | None:
    """Constrained canonical GS1 Digital Link for ``uri``, or None.

    ``uri`` may be an EPC URI or a GS1 Digital Link URI on any domain, with
    convenience names, a short GTIN, a query string or extra (coarser) key
    qualifiers.  The result is on ``https://id.gs1.org``, without query or
    fragment, and carries only the most fine-grained identification level.
    None means ``uri`` is not a recognisable GS1 identifier.
    """
    uri = uri.strip()
    if uri.startswith("urn:epc:"):
        return _epc_uri_to_digital_link(uri)
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return None
    segments = [s for s in parts.path.split("/") if s]
    for start, segment in enumerate(segments):
        key = _DL_SHORT_NAMES.get(segment, segment)
        if key in _DL_KEYS and start + 1 < len(segments):
            return _constrain_digital_link(key, segments[start + 1], segments[start + 2:])
    return None


def _constrain_digital_link(key: str, value: str, rest: list[str]) -> str | None:
    if key == "01" and re.fullmatch(r"[0-9]{8}|[0-9]{12,13}", value):
        value = value.zfill(14)  # all GTIN lengths are one number space
    if not _DL_KEYS[key].fullmatch(value):
        return None
    if len(rest) % 2:
        return None
    qualifiers: dict[str, str] = {}
    for index in range(0, len(rest), 2):
        ai = _DL_SHORT_NAMES.get(rest[index], rest[index])
        if ai in _DL_DROPPED_QUALIFIERS.get(key, ()):
            continue
        if ai not in _DL_QUALIFIERS.get(key, ()) or not _DL_QUALIFIER_VALUES[ai].fullmatch(
            rest[index + 1]
        ):
            # Data attributes do not belong in the path; rather than guess,
            # leave such a URI as the sender wrote it.
            return None
        qualifiers[ai] = rest[index + 1]
    path = f"{key}/{value}"
    for ai in _DL_QUALIFIERS.get(key, ()):
        if ai in qualifiers:
            path += f"/{ai}/{qualifiers[ai]}"
            break
    return _DL_BASE + path


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def prehash_string(event: Mapping[str, Any], context: JsonLdContext = None) -> str:
    """The canonical pre-hash string of one EPCIS 2.0 JSON/JSON-LD event.

    ``context`` supplies the namespace prefixes used by extension keys, e.g.
    ``{"ext1": "http://example.com/ext1/"}`` or the enclosing document's
    ``@context`` list; an ``@context`` inside the event is honoured too.

    Raises ValueError if ``event`` has no event ``type``.
    """
    event_type = event.get("type") if isinstance(event, Mapping) else None
    if not isinstance(event_type, str) or not event_type.strip():
        raise ValueError("an EPCIS event needs a 'type' such as 'ObjectEvent'")
    namespaces = _Namespaces(context, event.get("@context"))
    ordered, leftovers = _render_in_order(_event_nodes(event, namespaces), _EVENT_ORDER)
    return "eventType=" + event_type.strip() + ordered + "".join(leftovers)


def event_hash(event: Mapping[str, Any], context: JsonLdContext = None) -> str:
    """EPCIS Event Hash ID: ``ni:///sha-256;<hex>?ver=CBV2.0``.

    See :func:`prehash_string` for ``context``.
    """
    digest = hashlib.sha256(prehash_string(event, context).encode("utf-8")).hexdigest()
    return f"{_HASH_PREFIX}{digest}?ver={HASH_VERSION}"


def document_event_hashes(document: Mapping[str, Any]) -> list[str]:
    """Hash IDs of every event in an EPCIS document or query document, in order."""
    body = document.get("epcisBody") or {}
    if "eventList" in body:
        events = body["eventList"]
    elif "queryResults" in body:
        events = body["queryResults"]["resultsBody"]["eventList"]
    elif "event" in body:
        events = [body["event"]]
    else:
        events = []
    context = document.get("@context")
    return [event_hash(event, context) for event in events]
