from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from shop.catalog.models import Category, SaleUnit
from shop.forms import length, number_range

CATEGORY_LABELS = {
    Category.RICE: _l("Rice"),
    Category.FRUIT: _l("Fruit"),
    Category.VEGETABLES: _l("Vegetables"),
    Category.SEAFOOD: _l("Seafood"),
    Category.PROCESSED: _l("Processed food"),
    Category.OTHER: _l("Other"),
}
SALE_UNIT_LABELS = {
    SaleUnit.KG: _l("kg"),
    SaleUnit.BAG_5KG: _l("5 kg bag"),
    SaleUnit.BOX: _l("box"),
    SaleUnit.PIECE: _l("piece"),
}


class ProductForm(FlaskForm):
    name = StringField(_l("Product name"), validators=[DataRequired(_l("Enter the product name.")), length(min=2, max=200)])
    description = TextAreaField(_l("Description"), validators=[Optional(), length(max=4000)])
    category = SelectField(_l("Category"), choices=[(c.value, l) for c, l in CATEGORY_LABELS.items()])
    sale_unit = SelectField(_l("Sale unit"), choices=[(u.value, l) for u, l in SALE_UNIT_LABELS.items()])
    unit_weight_g = IntegerField(
        _l("Weight of one sale unit (grams)"),
        validators=[InputRequired(_l("Enter the weight in grams.")), NumberRange(min=1, max=50_000, message=_l("Between 1 g and 50 kg."))],
    )
    price_vnd = IntegerField(
        _l("Price per sale unit (VND)"),
        validators=[InputRequired(_l("Enter the price in dong.")), NumberRange(min=1, max=100_000_000, message=_l("Between 1 ₫ and 100.000.000 ₫."))],
    )


class BatchForm(FlaskForm):
    lot = StringField(_l("Lot number"), validators=[DataRequired(_l("Enter the lot number.")), length(max=20)])
    harvest_date = DateField(_l("Harvest date"), validators=[InputRequired(_l("Enter the harvest date."))])
    plot = StringField(_l("Plot / field"), validators=[DataRequired(_l("Enter the plot.")), length(max=120)])
    variety = StringField(_l("Variety"), validators=[Optional(), length(max=120)])
    cultivation_standard = StringField(_l("Cultivation standard (e.g. VietGAP)"), validators=[Optional(), length(max=60)])
    quantity_kg = DecimalField(
        _l("Harvested quantity (kg)"),
        places=3,
        validators=[InputRequired(_l("Enter the quantity in kg.")), NumberRange(min=0.001, max=1_000_000, message=_l("Between 0.001 and 1,000,000 kg."))],
    )


class TraceEventForm(FlaskForm):
    kind = SelectField(_l("What happened"), choices=[
        ("diary", _l("Production diary: fertiliser or pesticide applied")),
        ("processing", _l("Processing (e.g. milling paddy into rice)")),
        ("packing", _l("Packing")),
        ("inspection", _l("Inspection or certification")),
        ("shipping", _l("Shipped")),
        ("receiving", _l("Received")),
    ])
    event_date = DateField(_l("Date"), validators=[InputRequired(_l("Enter the date."))])
    note = TextAreaField(_l("Note"), validators=[Optional(), length(max=500)])
    input_name = StringField(_l("Product applied"), validators=[Optional(), length(max=120)])
    dose = StringField(_l("Dose"), validators=[Optional(), length(max=60)])
    pre_harvest_interval_days = IntegerField(_l("Pre-harvest interval (days)"), validators=[Optional(), number_range(min=0, max=365)])
    input_kg = DecimalField(_l("Kilograms in"), places=3, validators=[Optional(), number_range(min=0.001, max=1_000_000)])
    output_kg = DecimalField(_l("Kilograms out"), places=3, validators=[Optional(), number_range(min=0.001, max=1_000_000)])
    output_product_id = SelectField(_l("Product made"), coerce=int, validate_choice=False, validators=[Optional()])
    output_lot = StringField(_l("Lot of the product made"), validators=[Optional(), length(max=20)])
    passed = SelectField(_l("Result"), choices=[("1", _l("Passed")), ("0", _l("Failed"))], default="1")
    certificate_no = StringField(_l("Certificate number"), validators=[Optional(), length(max=60)])
    inspector = StringField(_l("Inspector or certifier"), validators=[Optional(), length(max=120)])


class RecallForm(FlaskForm):
    reason = TextAreaField(_l("Reason for the recall"), validators=[DataRequired(_l("Give the reason for the recall.")), length(min=5, max=500)])
