variable "alias" {
  description = "The key's alias, without the alias/ prefix."
  type        = string
  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]+$", var.alias)) && !startswith(lower(var.alias), "aws/")
    error_message = "alias: letters, digits, /, _ and -; the aws/ prefix is reserved."
  }
}

variable "description" {
  description = "The key's description."
  type        = string
  default     = "Customer managed key with automatic rotation"
}

variable "enable_key_rotation" {
  description = "Leave true. Set false only with rotation_exception recorded, or the kms-rotation-rule reports the key NON_COMPLIANT."
  type        = bool
  default     = true
  validation {
    condition     = var.enable_key_rotation || var.rotation_exception != null
    error_message = "enable_key_rotation = false needs rotation_exception (owner=<who> expires=<YYYY-MM-DD> [ticket=<id>])."
  }
}

variable "rotation_period_in_days" {
  description = "Days between automatic rotations (KMS accepts 90 to 2560)."
  type        = number
  default     = 365
  validation {
    condition     = var.rotation_period_in_days >= 90 && var.rotation_period_in_days <= 2560 && floor(var.rotation_period_in_days) == var.rotation_period_in_days
    error_message = "rotation_period_in_days must be a whole number from 90 to 2560."
  }
}

variable "rotation_exception" {
  description = <<-EOT
    An approved exception, recorded as the kms-rotation-exception tag: owner=<who> expires=<YYYY-MM-DD> [ticket=<id>]. null for none.
    The organisation's SCP (conformance-pack/scp-deny-disable-key-rotation.json, DenyChangingRotationExceptionTag) refuses
    kms:CreateKey, kms:TagResource and kms:UntagResource that carry this tag key unless the caller is a role named
    KmsRotationExceptionApprover (any path). So a key with an exception is deployed either with a provider that assumes that
    role (provider "aws" { assume_role { role_arn = ".../KmsRotationExceptionApprover" } }, passed as providers = { aws = aws.approver }),
    or by the approver tagging the key (aws kms tag-resource) and this variable then set to the same value, so that the
    next apply has no tag change to send. Set it only once the exception is approved.
  EOT
  type        = string
  default     = null
  validation {
    condition     = var.rotation_exception == null || can(regex("^(owner=[^ ]+|expires=[0-9]{4}-[0-9]{2}-[0-9]{2}|ticket=[^ ]+)( (owner=[^ ]+|expires=[0-9]{4}-[0-9]{2}-[0-9]{2}|ticket=[^ ]+)){1,2}$", var.rotation_exception))
    error_message = "rotation_exception: owner=<who> expires=<YYYY-MM-DD> [ticket=<id>]."
  }
}

variable "exception_tag_key" {
  description = "The tag that records an exception (the rule parameter exceptionTagKey)."
  type        = string
  default     = "kms-rotation-exception"
}

variable "tags" {
  description = "Tags for the key (the exception tag goes in rotation_exception, not here)."
  type        = map(string)
  default     = {}
}

variable "multi_region" {
  description = "Create a multi-Region primary key (replicas: ../kms-replica-key in each other Region; they rotate with this key)."
  type        = bool
  default     = false
}

variable "create_replica" {
  description = "Removed: this module no longer creates replicas (it needs only the default aws provider). Call ../kms-replica-key with providers = { aws = aws.replica }. Must stay false."
  type        = bool
  default     = false
  validation {
    condition     = !var.create_replica
    error_message = "create_replica was removed: this module no longer creates a replica. Set multi_region = true here and create the replica with the module iac/terraform/kms-replica-key (primary_key_arn = module.<this>.key_arn, providers = { aws = aws.replica })."
  }
}

variable "administrator_arns" {
  description = "IAM principals that administer the key (no cryptographic use)."
  type        = list(string)
}

variable "user_arns" {
  description = "IAM principals that use the key for cryptography (no administration)."
  type        = list(string)
}
