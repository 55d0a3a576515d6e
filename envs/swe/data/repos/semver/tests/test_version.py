import pytest
from semver import Version, max_satisfying, satisfies


def test_parse_plain():
    v = Version.parse("1.2.3")
    assert (v.major, v.minor, v.patch) == (1, 2, 3)
    assert v.prerelease == ()


def test_parse_prerelease_and_build():
    v = Version.parse("v2.0.0-rc.1+build.5")
    assert v.prerelease == ("rc", "1")
    assert v.build == ("build", "5")
    assert str(v) == "2.0.0-rc.1+build.5"


def test_parse_rejects_bad_versions():
    for text in ["1.2", "1.2.3.4", "a.b.c", "01.2.3", "1.2.3-", "1.2.3-a..b"]:
        with pytest.raises(ValueError):
            Version.parse(text)


def test_negative_numbers_rejected():
    with pytest.raises(ValueError):
        Version(1, -1, 0)


def test_ordering_of_numbers():
    assert Version.parse("1.2.3") < Version.parse("1.2.4")
    assert Version.parse("1.9.0") < Version.parse("1.10.0")
    assert Version.parse("2.0.0") > Version.parse("1.99.99")


def test_prerelease_before_release():
    assert Version.parse("1.0.0-alpha") < Version.parse("1.0.0")
    assert not Version.parse("1.0.0") < Version.parse("1.0.0-alpha")


def test_prerelease_ordering_chain():
    chain = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0",
    ]
    versions = [Version.parse(v) for v in chain]
    assert sorted(reversed(versions)) == versions


def test_equality_ignores_build():
    assert Version.parse("1.0.0+a") == Version.parse("1.0.0+b")
    assert len({Version.parse("1.0.0+a"), Version.parse("1.0.0")}) == 1


def test_bump():
    v = Version.parse("1.2.3")
    assert str(v.bump("major")) == "2.0.0"
    assert str(v.bump("minor")) == "1.3.0"
    assert str(v.bump("patch")) == "1.2.4"


def test_bump_prerelease_patch():
    assert str(Version.parse("1.2.3-rc.1").bump("patch")) == "1.2.3"


def test_bump_unknown_part():
    with pytest.raises(ValueError):
        Version(1).bump("micro")


def test_caret_range():
    assert satisfies("1.4.0", "^1.2.0")
    assert satisfies("1.2.0", "^1.2.0")
    assert not satisfies("2.0.0", "^1.2.0")
    assert not satisfies("1.1.9", "^1.2.0")


def test_caret_range_zero_major():
    assert satisfies("0.2.5", "^0.2.3")
    assert not satisfies("0.3.0", "^0.2.3")
    assert satisfies("0.0.3", "^0.0.3")
    assert not satisfies("0.0.4", "^0.0.3")


def test_tilde_range():
    assert satisfies("1.2.9", "~1.2.3")
    assert not satisfies("1.3.0", "~1.2.3")
    assert not satisfies("1.2.2", "~1.2.3")


def test_comparator_ranges():
    assert satisfies("1.5.0", ">=1.0.0 <2.0.0")
    assert not satisfies("2.0.0", ">=1.0.0 <2.0.0")
    assert satisfies("1.0.0", "=1.0.0")
    assert satisfies("1.0.0", "1.0.0")
    assert satisfies("3.0.0", ">2.9.9")
    assert not satisfies("3.0.0", "<=2.9.9")


def test_max_satisfying():
    versions = ["1.2.0", "1.4.5", "2.0.0", "1.4.10", "0.9.0"]
    assert str(max_satisfying(versions, "^1.2.0")) == "1.4.10"
    assert max_satisfying(versions, ">=3.0.0") is None
