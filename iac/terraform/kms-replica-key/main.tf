# A replica, in the Region of the default aws provider, of a multi-Region primary made by
# ../kms-key (multi_region = true). Call it once per replica Region, passing that Region's
# provider as the default one: providers = { aws = aws.replica }.
#
# A replica has no rotation setting of its own: it rotates with its primary (AWS KMS Developer
# Guide, "Rotating multi-Region keys"), and the kms-rotation-rule decides on the primary's
# rotation. Its key policy is the same one as the primary's (../kms-key-policy): the account
# statement first (IAM delegation, and ReplicateKey's policy lockout safety check), then
# administrators, users and grants for AWS services.
#
# check-iac reads one module at a time: here the primary is a variable, so it reports this
# replica UNKNOWN_PRIMARY (the primary's module decides), as for the CloudFormation replica stack.

locals {
  exception_tags = var.rotation_exception == null ? {} : { (var.exception_tag_key) = var.rotation_exception }
  tags           = merge({ managed-by = "kms-rotation-iac" }, var.tags, local.exception_tags)
}

module "policy" {
  source = "../kms-key-policy"

  administrator_arns = var.administrator_arns
  user_arns          = var.user_arns
}

resource "aws_kms_replica_key" "this" {
  description             = var.description
  primary_key_arn         = var.primary_key_arn
  deletion_window_in_days = 30
  policy                  = module.policy.json
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_replica_key.this.key_id
}
