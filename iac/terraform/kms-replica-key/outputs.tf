output "key_arn" {
  description = "The replica's ARN (same key ID as the primary, in this Region)."
  value       = aws_kms_replica_key.this.arn
}

output "key_id" {
  description = "The replica's key ID."
  value       = aws_kms_replica_key.this.key_id
}

output "alias_name" {
  description = "The replica's alias."
  value       = aws_kms_alias.this.name
}
