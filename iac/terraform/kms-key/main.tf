# A customer managed KMS key that the kms-rotation-rule finds COMPLIANT from day one, in the Region
# of the default aws provider (the only provider this module needs). A multi-Region primary's
# replicas come from the module ../kms-replica-key, called with the other Region's provider; they
# rotate with this key.
#
# The key policy comes from ../kms-key-policy (shared with the replica module): its first
# statement is KMS's default account statement, which lets IAM policies grant access to the key
# (the guardrail's roles are granted by IAM) and satisfies CreateKey's policy lockout safety check.
#
# The kms-rotation-exception tag (var.rotation_exception) is guarded by the organisation's SCP
# (conformance-pack/scp-deny-disable-key-rotation.json, DenyChangingRotationExceptionTag): a
# CreateKey that carries it is refused unless the caller is a role named
# KmsRotationExceptionApprover. See variables.tf, rotation_exception.

locals {
  exception_tags = var.rotation_exception == null ? {} : { (var.exception_tag_key) = var.rotation_exception }
  tags           = merge({ managed-by = "kms-rotation-iac" }, var.tags, local.exception_tags)
}

module "policy" {
  source = "../kms-key-policy"

  administrator_arns = var.administrator_arns
  user_arns          = var.user_arns
}

resource "aws_kms_key" "this" {
  description              = var.description
  customer_master_key_spec = "SYMMETRIC_DEFAULT"
  key_usage                = "ENCRYPT_DECRYPT"
  multi_region             = var.multi_region
  enable_key_rotation      = var.enable_key_rotation
  rotation_period_in_days  = var.enable_key_rotation ? var.rotation_period_in_days : null
  deletion_window_in_days  = 30
  policy                   = module.policy.json
  tags                     = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}
