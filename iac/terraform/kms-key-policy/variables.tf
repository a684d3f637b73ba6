variable "administrator_arns" {
  description = "IAM principals that administer the key (no cryptographic use)."
  type        = list(string)
}

variable "user_arns" {
  description = "IAM principals that use the key for cryptography (no administration)."
  type        = list(string)
}
