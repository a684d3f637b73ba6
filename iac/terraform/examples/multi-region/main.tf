# A multi-Region primary in eu-west-1 and its replica in eu-central-1. The replica module takes the
# other Region's provider as its default one; the replica rotates with the primary.
# (tests/iac/test_terraform_init.py runs `terraform init` on this root.)

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

provider "aws" {
  region = "eu-west-1"
}

provider "aws" {
  alias  = "replica"
  region = "eu-central-1"
}

locals {
  administrator_arns = ["arn:aws:iam::111122223333:role/KeyAdministrator"]
  user_arns          = ["arn:aws:iam::111122223333:role/PaymentsService"]
}

module "key" {
  source = "../../kms-key"

  alias              = "payments"
  multi_region       = true
  administrator_arns = local.administrator_arns
  user_arns          = local.user_arns
}

module "replica" {
  source    = "../../kms-replica-key"
  providers = { aws = aws.replica }

  primary_key_arn    = module.key.key_arn
  alias              = "payments"
  administrator_arns = local.administrator_arns
  user_arns          = local.user_arns
}

output "key_arn" {
  value = module.key.key_arn
}

output "replica_key_arn" {
  value = module.replica.key_arn
}
