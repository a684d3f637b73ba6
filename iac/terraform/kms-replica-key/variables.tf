variable "primary_key_arn" {
  description = "The key_arn output of the primary's ../kms-key module (multi_region = true): a multi-Region key, mrk-..., in another Region of the same account."
  type        = string
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/mrk-[0-9a-f]{32}$", var.primary_key_arn))
    error_message = "The primary_key_arn must be the ARN of a multi-Region key (arn:<partition>:kms:<region>:<account>:key/mrk-...)."
  }
}

variable "alias" {
  description = "The replica's alias, without the alias/ prefix (usually the primary's)."
  type        = string
  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]+$", var.alias)) && !startswith(lower(var.alias), "aws/")
    error_message = "The alias takes letters, digits, /, _ and -; the aws/ prefix is reserved."
  }
}

variable "description" {
  description = "The replica's description."
  type        = string
  default     = "Replica of a multi-Region key with automatic rotation"
}

variable "rotation_exception" {
  description = <<-EOT
    The exception recorded on the primary, if any (tags are not replicated): owner=<who> expires=<YYYY-MM-DD> [ticket=<id>]. null for none.
    As on the primary, the organisation's SCP (DenyChangingRotationExceptionTag) refuses kms:ReplicateKey, kms:TagResource and
    kms:UntagResource carrying this tag key unless the caller is a role named KmsRotationExceptionApprover: pass a provider
    that assumes that role in this Region (providers = { aws = aws.replica_approver }), or have the approver tag the replica
    and then set this variable to the same value.
  EOT
  type        = string
  default     = null
  validation {
    condition     = var.rotation_exception == null || can(regex("^(owner=[^ ]+|expires=[0-9]{4}-[0-9]{2}-[0-9]{2}|ticket=[^ ]+)( (owner=[^ ]+|expires=[0-9]{4}-[0-9]{2}-[0-9]{2}|ticket=[^ ]+)){1,2}$", var.rotation_exception))
    error_message = "The rotation_exception must read owner=<who> expires=<YYYY-MM-DD> [ticket=<id>]."
  }
}

variable "exception_tag_key" {
  description = "The tag that records an exception (the rule parameter exceptionTagKey)."
  type        = string
  default     = "kms-rotation-exception"
}

variable "tags" {
  description = "Tags for the replica (the exception tag goes in rotation_exception, not here)."
  type        = map(string)
  default     = {}
}

variable "administrator_arns" {
  description = "IAM principals that administer the replica (no cryptographic use)."
  type        = list(string)
}

variable "user_arns" {
  description = "IAM principals that use the replica for cryptography (no administration)."
  type        = list(string)
}
