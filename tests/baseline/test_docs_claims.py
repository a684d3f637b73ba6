"""What the README and the guides claim (issue 10, items 7 and 8)."""

from __future__ import annotations

from support import ROOT

README = (ROOT / "README.md").read_text()
DEPLOY = (ROOT / "docs" / "deploy.md").read_text()
OPERATOR = (ROOT / "docs" / "operator-guide.md").read_text()
DECISIONS = (ROOT / "docs" / "decision-table.md").read_text()


def test_each_false_positive_names_its_tool():
    assert "well-known checkers" not in README
    assert "peer tool" not in DECISIONS and "a peer-tool bug" not in DECISIONS
    for claim in (
        "Prowler fails keys with\nimported material and keys in custom key stores",
        "Steampipe AWS compliance mod alarms on keys in\ncustom key stores",
        "Checkov's CKV_AWS_7 flags HMAC keys",
        "CT.KMS.PR.1 skips only non-symmetric keys",
    ):
        assert claim in README, claim


def test_cis_versions_and_security_hub_are_stated_precisely():
    for doc in (README, OPERATOR):
        assert "v1.4" in doc and "3.8" in doc and "3.6" in doc
        assert "cmk-backing-key-rotation-enabled" in doc
    assert "does not\nchange KMS.4's findings" in README


def test_imported_material_can_be_rotated_on_demand():
    assert "rotated\non demand, not automatically" in README
    assert "rotated on demand" in DECISIONS


def test_rescan_is_documented_with_the_pack_rule_name():
    for doc in (DEPLOY, OPERATOR):
        assert "--conformance-pack" in doc and "-conformance-pack-" in doc
        assert "kms-rotation rescan --rule-name kms-rotation-rule" in doc
    assert "names the candidates" in OPERATOR
