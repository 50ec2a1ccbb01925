import pytest

from services.common.ids import gb11643_check_digit, make_certno, valid_certno


@pytest.mark.parametrize("certno", [
    "11010519491231002X",  # the GB 11643 example (X check character)
    "440524188001010014",
    "330602196804120112",
])
def test_known_valid_numbers(certno):
    assert valid_certno(certno)
    assert make_certno(certno[:17]) == certno
    assert gb11643_check_digit(certno[:17]) == certno[17]


def test_every_wrong_check_character_is_rejected():
    good = "11010519491231002X"
    for c in "0123456789":
        assert not valid_certno(good[:17] + c)
    assert not valid_certno(good[:17] + "x")  # lower-case x is not accepted


@pytest.mark.parametrize("bad", [None, 110105194912310021, "", "1101051949123100", "11010519491231002X1",
                                 "1101051949123100AX", "１１０１０５１９４９１２３１００２X"])
def test_malformed_numbers(bad):
    assert not valid_certno(bad)


def test_check_digit_needs_17_digits():
    with pytest.raises(ValueError):
        gb11643_check_digit("1234")
    with pytest.raises(ValueError):
        gb11643_check_digit("1101051949123100A")


def test_check_digit_covers_all_remainders():
    seen = {gb11643_check_digit(f"{n:017d}") for n in range(0, 2000)}
    assert seen == set("10X98765432")
