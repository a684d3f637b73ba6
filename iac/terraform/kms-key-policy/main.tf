# The key policy of every key the modules make (kms-key and kms-replica-key call this module, so the
# statements exist once). Its output is the policy JSON.
#
# The first statement is the account statement of KMS's default key policy: the account
# (arn:<partition>:iam::<account>:root) may do kms:* on this key. That statement is what lets IAM
# policies grant access to the key at all: "Unless the key policy explicitly allows it, you cannot
# use IAM policies to allow access to a KMS key" (AWS KMS Developer Guide, "Key policies in AWS
# KMS" and "Default key policy"). The guardrail's own roles (the rule function's role, the member
# evaluation role, the remediation role, the operator role) get their KMS permissions from IAM
# policies, so without it they are denied on every key the modules make. It does not give anyone
# access by itself: a principal of the account still needs an IAM policy that allows the action.
# It also satisfies CreateKey's and ReplicateKey's policy lockout safety check, which refuses a
# policy that would not let the caller call PutKeyPolicy later (KMS API reference, CreateKey and
# ReplicateKey, "BypassPolicyLockoutSafetyCheck" and "Policy"): a deployer allowed
# kms:PutKeyPolicy by IAM passes it without being among the administrators.
#
# KeyAdministration, KeyUse and GrantsForAwsServicesOnly name the administrators and users in the
# key policy itself, as before.
#
# In a key policy, "*" as the resource means this key and nothing else (AWS KMS Developer Guide,
# "Key policies in AWS KMS", element "Resource"); checkov's IAM checks read it as "every resource".

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:A key policy's resource "*" is this key only; the account statement is KMS's default key policy statement that delegates to IAM
  #checkov:skip=CKV_AWS_111:A key policy's resource "*" is this key only; the account statement is KMS's default key policy statement that delegates to IAM
  #checkov:skip=CKV_AWS_356:A key policy's resource "*" is this key only
  statement {
    sid = "EnableIAMPolicies"
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
    actions   = ["kms:*"]
    resources = ["*"]
  }
  statement {
    sid = "KeyAdministration"
    principals {
      type        = "AWS"
      identifiers = var.administrator_arns
    }
    actions = [
      "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
      "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
      "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
      "kms:ReplicateKey", "kms:RotateKeyOnDemand",
    ]
    resources = ["*"]
  }
  statement {
    sid = "KeyUse"
    principals {
      type        = "AWS"
      identifiers = var.user_arns
    }
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]
  }
  statement {
    sid = "GrantsForAwsServicesOnly"
    principals {
      type        = "AWS"
      identifiers = var.user_arns
    }
    actions   = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
    resources = ["*"]
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }
}
