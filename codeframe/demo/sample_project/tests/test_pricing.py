from bookshelf.pricing import format_price


def test_prices_show_two_decimals_and_the_currency():
    assert format_price(12.5) == "12.50 EUR"


def test_thousands_are_separated():
    assert format_price(1234.5, "GBP") == "1,234.50 GBP"
