# Floors: the highest documented minimum of what this module uses (tests/iac/test_terraform_floors.py
# holds the table and checks it against the source).
# - Terraform >= 1.3.0: startswith() in the alias validation is new in Terraform 1.3.0 (Terraform
#   CHANGELOG 1.3.0: "Added functions: startswith and endswith", #31220). No validation here
#   refers to another variable. ../kms-key-policy needs 0.13.0.
# - hashicorp/aws >= 3.64.0: aws_kms_replica_key (multi-Region keys) is new in provider 3.64.0
#   (provider release v3.64.0, closing hashicorp/terraform-provider-aws#19896). ../kms-key-policy
#   needs 3.13.0.
# Only the default aws provider: the caller passes the replica Region's provider as this module's
# default one (providers = { aws = aws.replica }).
terraform {
  required_version = ">= 1.3.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 3.64.0"
    }
  }
}
