"""What users pass to check-iac from CloudFormation tooling: a CDK cloud assembly (`cdk synth`'s
cdk.out/), SAM templates, and templates whose keys come from `Fn::ForEach` loops.

- CDK: a cloud assembly holds `manifest.json` and the marker file `cdk.out` (aws-cdk,
  packages/aws-cdk-lib/cx-api/lib/cloud-assembly.ts, CloudAssemblyBuilder.buildAssembly); its stacks are
  `*.template.json`, nested stacks `*.nested.template.json` (core/lib/nested-stack.ts); the rest
  (tree.json, *.assets.json, asset.* directories) are not templates.
- SAM: the AWS::Serverless-2016-10-31 transform turns AWS::Serverless::* resources into CloudFormation
  ones and leaves the others, AWS::KMS::Key included, as they are.
- Fn::ForEach: CloudFormation Template Reference, "Fn::ForEach" (needs the AWS::LanguageExtensions
  transform; `${Identifier}` / `&{Identifier}` in the output key, `Ref: Identifier` in the value; the
  CloudFormation quotas, 500 resources in a template, apply to the resultant template).
"""

from __future__ import annotations

import shutil

from support import FIXTURES, verdicts

CFN = FIXTURES / "cloudformation"


def test_a_cdk_assembly_is_read_for_its_templates_and_its_assets_are_skipped(check_iac, tmp_path):
    """Assets are whatever the app bundles: a tsconfig.json with comments, a Helm chart's templates, a
    CloudFormation template shipped as a file. None is read, none is an error, each is counted."""
    out = tmp_path / "cdk.out"
    shutil.copytree(CFN / "cdk.out", out)
    asset = out / "asset.4f1c2a9e"
    (asset / "tsconfig.json").write_text('{\n  // TypeScript allows comments here\n  "strict": true,\n}\n')
    (asset / "chart").mkdir()
    (asset / "chart" / "deployment.yaml").write_text("replicas: {{ .Values.replicas }}\nimage: {{ .Values.image }\n")
    (asset / "bundled.template.json").write_text(
        '{"Resources": {"NotDeployedHere": {"Type": "AWS::KMS::Key"}}}')
    run = check_iac("--output", "json", str(out))
    assert run.code == 1, run.stderr  # the nested stack's key does not rotate
    assert "error" not in run.stderr, run.stderr
    assert verdicts(run) == {"DataKey3C9F5F12": ("COMPLIANT", "ROTATION_ON"),
                             "AuditLogKeyB1A2C3D4": ("NON_COMPLIANT", "ROTATION_OFF")}
    nested = {f["resource"]: f["file"] for f in run.findings()}["AuditLogKeyB1A2C3D4"]
    assert nested.endswith(".nested.template.json")
    # manifest.json, tree.json, KmsStack.assets.json and the asset's package.json, tsconfig.json,
    # deployment.yaml and bundled.template.json.
    assert "2 files checked" in run.stderr and "7 files skipped" in run.stderr, run.stderr


def test_a_stage_assembly_inside_the_app_assembly_is_read_too(check_iac, tmp_path):
    out = tmp_path / "cdk.out"
    shutil.copytree(CFN / "cdk.out", out)
    stage = out / "assembly-Prod"
    stage.mkdir()
    (stage / "cdk.out").write_text('{"version":"36.0.0"}')
    (stage / "manifest.json").write_text('{"version": "36.0.0", "artifacts": {}}')
    (stage / "Prod-Data.template.json").write_text(
        '{"Resources": {"ProdKey": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": false}}}}')
    (stage / "asset.77aa").mkdir()
    (stage / "asset.77aa" / "values.yaml").write_text("image: {{ .Values.image }\n")  # a template for Helm
    run = check_iac("--output", "json", str(out))
    assert "error" not in run.stderr, run.stderr
    assert verdicts(run)["ProdKey"] == ("NON_COMPLIANT", "ROTATION_OFF")


def test_a_sam_template_keeps_its_kms_keys_and_its_functions_are_not_keys(check_iac, tmp_path):
    run = check_iac("--output", "json", str(CFN / "sam-template.yaml"))
    assert verdicts(run) == {"QueueKey": ("COMPLIANT", "ROTATION_ON"),
                             "EnvironmentKey": ("NON_COMPLIANT", "ROTATION_OFF")}
    # SAM with the language extensions first, as AWS::LanguageExtensions must run before SAM's
    # transform: a key per function made by a loop.
    sam = (CFN / "sam-template.yaml").read_text().replace(
        "Transform: AWS::Serverless-2016-10-31",
        "Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]",
    ).replace("  QueueKey:\n", "  'Fn::ForEach::FunctionKeys':\n    - Fn\n    - [Orders, Refunds]\n"
              "    - '${Fn}FunctionKey':\n        Type: AWS::KMS::Key\n  QueueKey:\n")
    path = tmp_path / "template.yaml"
    path.write_text(sam)
    got = verdicts(check_iac("--output", "json", str(path)))
    assert got["OrdersFunctionKey"] == got["RefundsFunctionKey"] == ("NON_COMPLIANT", "ROTATION_OFF")
    assert len(got) == 4


def test_foreach_keys_are_reported_under_their_generated_logical_ids(check_iac):
    run = check_iac("--max-rotation-period-days", "365", "--output", "json", str(CFN / "foreach-keys.yaml"))
    assert verdicts(run) == {
        "TenantKeyalpha": ("COMPLIANT", "ROTATION_ON"), "TenantKeybeta": ("COMPLIANT", "ROTATION_ON"),
        "LegacybillingKey": ("NON_COMPLIANT", "ROTATION_OFF"), "LegacyauditlogKey": ("NON_COMPLIANT", "ROTATION_OFF"),
        "DevApiKey": ("COMPLIANT", "ROTATION_ON"), "ProdApiKey": ("NON_COMPLIANT", "PERIOD_ABOVE_MAXIMUM"),
        "Fn::ForEach::TeamKeys": ("UNKNOWN", "UNKNOWN_VALUE"),
    }
    by = {f["resource"]: f for f in run.findings()}
    assert 'created by Fn::ForEach::TenantKeys with Tenant = "alpha"' in by["TenantKeyalpha"]["message"]
    assert 'parameter Tenants taken at its default "alpha,beta"' in by["TenantKeyalpha"]["message"]
    assert "Fn::ForEach::TeamKeys creates TeamKey${Team}" in by["Fn::ForEach::TeamKeys"]["message"]
    assert "parameter Teams has no default" in by["Fn::ForEach::TeamKeys"]["message"]
    lines = (CFN / "foreach-keys.yaml").read_text().splitlines()
    assert "'Legacy&{Name}Key':" in lines[by["LegacybillingKey"]["line"] - 1]


def loop_bomb(levels: int, width: int) -> str:
    """`levels` nested loops over `width` items each: width**levels keys from a few lines."""
    items = "[" + ", ".join(f"i{n}" for n in range(width)) + "]"
    text = "Transform: AWS::LanguageExtensions\nResources:\n"
    indent = "  "
    for level in range(levels):
        text += f"{indent}'Fn::ForEach::L{level}':\n{indent}  - V{level}\n{indent}  - {items}\n{indent}  -"
        indent += "    "
        text += "\n" if level < levels - 1 else " "
    key = "K" + "".join(f"${{V{level}}}" for level in range(levels))
    return text + f"'{key}':\n{indent}  Type: AWS::KMS::Key\n"


def test_a_loop_bomb_is_refused_naming_the_loop_and_the_other_files_are_checked(check_iac, tmp_path):
    """10**6 keys from a template of under a kilobyte: expansion stops at the 5,001st generated resource
    (the work stays bounded), exit 2; CloudFormation would refuse the result anyway (500 resources per
    template)."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(loop_bomb(6, 10))
    assert len(bomb.read_bytes()) < 1000
    shutil.copy(CFN / "compliant-basic.yaml", tmp_path)
    run = check_iac("--output", "json", str(tmp_path))
    assert run.code == 2
    assert any(line.startswith(f"error: {bomb}: refused: Fn::ForEach::L0 generates more than 5000 resources")
               for line in run.stderr.splitlines()), run.stderr
    assert verdicts(run) == {"AppKey": ("COMPLIANT", "ROTATION_ON")}


def test_a_loop_within_the_bound_is_expanded(check_iac, tmp_path):
    path = tmp_path / "loops.yaml"
    path.write_text(loop_bomb(2, 10))
    run = check_iac("--output", "json", str(path))
    assert run.code == 1 and len(run.findings()) == 100, run.stderr


def test_foreach_without_the_transform_is_refused(check_iac, tmp_path):
    path = tmp_path / "no-transform.yaml"
    path.write_text(loop_bomb(1, 2).replace("Transform: AWS::LanguageExtensions\n", ""))
    run = check_iac(str(path))
    assert run.code == 2 and "AWS::LanguageExtensions" in run.stderr, run.stderr
