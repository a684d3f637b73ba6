output "key_arn" {
  description = "The key's ARN (the primary_key_arn of ../kms-replica-key when multi_region)."
  value       = aws_kms_key.this.arn
}

output "key_id" {
  description = "The key's ID."
  value       = aws_kms_key.this.key_id
}

output "alias_name" {
  description = "The alias."
  value       = aws_kms_alias.this.name
}
