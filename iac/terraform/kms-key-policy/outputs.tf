output "json" {
  description = "The key policy: the account statement (IAM delegation) first, then administrators, users and grants for AWS services."
  value       = data.aws_iam_policy_document.key.json
}
