# Floors: the highest documented minimum of what this module uses (tests/iac/test_terraform_floors.py
# holds the table and checks it against the source).
# - Terraform >= 0.13.0: required_providers with a source address (Terraform 0.13.0 CHANGELOG).
# - hashicorp/aws >= 3.13.0: data sources aws_partition and aws_caller_identity, documented as
#   present by provider 3.13.0 (provider CHANGELOG 3.13.0 NOTES, #15896: "data-source/aws_caller_identity:
#   The id attribute has changed ..."; 3.10.0 NOTES, #15399, the same for aws_partition);
#   aws_iam_policy_document is documented by 1.19.0 (CHANGELOG 1.19.0 NOTES). Only their presence
#   by those releases is documented, so this floor may be higher than strictly needed, never lower.
terraform {
  required_version = ">= 0.13.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 3.13.0"
    }
  }
}
