output "key_arn" {
  description = "The key's ARN."
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

output "replica_key_arn" {
  description = "The replica's ARN, when created."
  value       = one(aws_kms_replica_key.this[*].arn)
}
