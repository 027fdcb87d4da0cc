"""Catalogue search reads an index (a trigram GIN index on PostgreSQL, an FTS5 trigram table on
SQLite), folds accents the same way for the query and the names, ranks as before, and counts only
as far as it shows."""

from sqlalchemy import text

from shop.catalog.services import PublicCatalog


def _names(session, query, **filters):
    rows, total = PublicCatalog(session).find(query, **filters)
    return [product.name for product, _cooperative in rows], total


def test_folded_and_accented_queries_give_the_same_ranked_results(session, factory):
    cooperative = factory.cooperative()
    for name in ("Gạo ST25 túi 5 kg", "Bánh gạo ST25", "Gạo thơm ST24", "Hành tím Vĩnh Châu", "Gạo lứt ST25 đỏ",
                 "Đường thốt nốt"):
        factory.product(cooperative, name=name)
    session.flush()
    folded, total = _names(session, "gao st25")
    assert folded == ["Gạo ST25 túi 5 kg", "Bánh gạo ST25", "Gạo lứt ST25 đỏ"] and total == 3  # phrase at the start, then anywhere, then all words
    assert _names(session, "gạo ST25") == (folded, 3)
    assert _names(session, "GẠO   st25") == (folded, 3)
    assert _names(session, "duong")[0] == ["Đường thốt nốt"]  # đ is d
    assert set(_names(session, "st")[0]) == {"Bánh gạo ST25", "Gạo lứt ST25 đỏ", "Gạo ST25 túi 5 kg", "Gạo thơm ST24"}  # two letters: no trigram, still found
    assert _names(session, "100%")[0] == []  # a LIKE wildcard in the query is a character, not "anything"


def test_renamed_and_removed_products_leave_the_index(session, factory):
    cooperative = factory.cooperative()
    product = factory.product(cooperative, name="Tôm khô Cà Mau")
    session.flush()
    assert _names(session, "tom kho")[0] == ["Tôm khô Cà Mau"]
    product.name, product.name_ascii = "Mắm tôm", "mam tom"
    session.flush()
    assert _names(session, "tom kho")[0] == [] and _names(session, "mam tom")[0] == ["Mắm tôm"]
    session.delete(product)
    session.flush()
    assert _names(session, "mam tom")[0] == []


def test_the_search_is_answered_from_the_index(session, factory):
    cooperative = factory.cooperative()
    factory.product(cooperative, name="Gạo ST25 túi 5 kg")
    session.flush()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.exec(text("SET LOCAL enable_seqscan = off"))  # a handful of rows: show the index can answer
        plan = "\n".join(r[0] for r in session.exec(text(
            "EXPLAIN SELECT id FROM product WHERE name_ascii LIKE '%' || 'st25' || '%'")))
        assert "ix_product_name_trgm" in plan
    else:
        plan = " ".join(str(r) for r in session.exec(text(
            "EXPLAIN QUERY PLAN SELECT rowid FROM product_fts WHERE product_fts MATCH '\"st25\"'")))
        assert "product_fts" in plan and "VIRTUAL TABLE INDEX" in plan
        assert [r[0] for r in session.exec(text("SELECT rowid FROM product_fts WHERE product_fts MATCH '\"st25\"'"))]


def test_the_count_stops_past_its_limit(client, session, factory, monkeypatch):
    monkeypatch.setattr(PublicCatalog, "COUNT_LIMIT", 2)
    cooperative = factory.cooperative()
    for n in range(4):
        factory.product(cooperative, name=f"Gạo ST25 loại {n}")
    session.commit()
    names, total = _names(session, "")
    assert total == 3 and len(names) == 4  # counted to the limit + 1, every row still listed
    page = client.get("/?q=gao").get_data(as_text=True)
    assert 'id="result-count"' in page and "2 " in page.split('id="result-count">')[1][:60]
