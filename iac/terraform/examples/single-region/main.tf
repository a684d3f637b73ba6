# A single-Region key: the module needs nothing but the default aws provider.
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

module "key" {
  source = "../../kms-key"

  alias              = "payments"
  administrator_arns = ["arn:aws:iam::111122223333:role/KeyAdministrator"]
  user_arns          = ["arn:aws:iam::111122223333:role/PaymentsService"]
}

output "key_arn" {
  value = module.key.key_arn
}
