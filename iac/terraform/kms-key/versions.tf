# Floors: the highest documented minimum of what this module uses (tests/iac/test_terraform_floors.py
# holds the table and checks it against the source).
# - Terraform >= 1.9.0: the validation of enable_key_rotation refers to another variable
#   (var.rotation_exception); "Input variable validation rules can refer to other objects" is new
#   in Terraform 1.9.0 (Terraform CHANGELOG 1.9.0, #34955). Earlier releases reject the module.
# - hashicorp/aws >= 5.49.0: aws_kms_key.rotation_period_in_days is new in provider 5.49.0
#   (provider CHANGELOG 5.49.0, "resource/aws_kms_key: Add rotation_period_in_days argument",
#   #37140). multi_region is from 3.64.0; ../kms-key-policy needs 3.13.0.
# Only the default aws provider: no configuration_aliases, so a single-Region caller passes nothing.
terraform {
  required_version = ">= 1.9.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.49.0"
    }
  }
}
