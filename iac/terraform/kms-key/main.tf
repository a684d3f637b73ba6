# A customer managed KMS key that the kms-rotation-rule finds COMPLIANT from day one.

locals {
  exception_tags = var.rotation_exception == null ? {} : { (var.exception_tag_key) = var.rotation_exception }
  tags           = merge({ managed-by = "kms-rotation-iac" }, var.tags, local.exception_tags)
}

# In a key policy, "*" as the resource means this key and nothing else (KMS key policies, AWS
# KMS Developer Guide); checkov's IAM checks read it as "every resource".
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:A key policy's resource "*" is this key only
  #checkov:skip=CKV_AWS_111:A key policy's resource "*" is this key only
  #checkov:skip=CKV_AWS_356:A key policy's resource "*" is this key only
  statement {
    sid = "KeyAdministration"
    principals {
      type        = "AWS"
      identifiers = var.administrator_arns
    }
    actions = [
      "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
      "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
      "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
      "kms:ReplicateKey", "kms:RotateKeyOnDemand",
    ]
    resources = ["*"]
  }
  statement {
    sid = "KeyUse"
    principals {
      type        = "AWS"
      identifiers = var.user_arns
    }
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]
  }
  statement {
    sid = "GrantsForAwsServicesOnly"
    principals {
      type        = "AWS"
      identifiers = var.user_arns
    }
    actions   = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
    resources = ["*"]
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }
}

resource "aws_kms_key" "this" {
  description              = var.description
  customer_master_key_spec = "SYMMETRIC_DEFAULT"
  key_usage                = "ENCRYPT_DECRYPT"
  multi_region             = var.multi_region
  enable_key_rotation      = var.enable_key_rotation
  rotation_period_in_days  = var.enable_key_rotation ? var.rotation_period_in_days : null
  deletion_window_in_days  = 30
  policy                   = data.aws_iam_policy_document.key.json
  tags                     = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}

resource "aws_kms_replica_key" "this" {
  count    = var.multi_region && var.create_replica ? 1 : 0
  provider = aws.replica

  description             = "${var.description} (replica)"
  primary_key_arn         = aws_kms_key.this.arn
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = local.tags
}

resource "aws_kms_alias" "replica" {
  count    = var.multi_region && var.create_replica ? 1 : 0
  provider = aws.replica

  name          = "alias/${var.alias}"
  target_key_id = aws_kms_replica_key.this[0].key_id
}
