#!/usr/bin/env bash
# Smoke test of the whole product in a SANDBOX AWS account (never production): deploy
# templates/rule-function.yaml with its conformance pack (with the organization StackSet's
# parameter shape: HomeRegion and CodeS3BucketPrefix), create one KMS key of each kind, wait for
# the rule's evaluations, run one remediation through Config, check the key, run the runbook on a
# key that already rotates (it must end in ConfirmRotation, through aws:branch NumericEquals on a
# '{{ }}' value; its ReportRotationStatus outputs are printed, NextRotationDate a timestamp declared
# String) and on a disabled key (it must fail, saying DisabledException), report the boto3 and
# botocore inside aws:executeScript with a throwaway document, and tear everything down.
# Every step prints PASS or FAIL; a failed step prints the AWS error.
#
# Prerequisites: AWS CLI v2, credentials for the sandbox account (AWS_PROFILE or the usual
# variables), AWS_REGION set, AWS Config recording AWS::KMS::Key in that Region, and the function
# built first:  cargo lambda build --release --x86-64 --output-format zip --bin kms-rotation-rule
#
# Usage: tools/smoke-test.sh            (from the repository root)
# Cost: six KMS keys scheduled for deletion after 7 days, a few Config evaluations, one stack.
# Every `aws` call below is checked against botocore's service models by
# tests/baseline/test_smoke_script.py, and the script passes shellcheck.
set -uo pipefail

REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
RUN_ID="kmsrot-smoke-$(date +%s)"
ZIP="target/lambda/kms-rotation-rule/bootstrap.zip"
TEMPLATE="conformance-pack/templates/rule-function.yaml"
CODE_KEY="$RUN_ID/bootstrap.zip"
PASSED=0
FAILED=0
OUT=""
KEYS=()
BUCKET=""
STACK_CREATED=false
PROBE_DOC="$RUN_ID-sdk-probe"
PROBE_CREATED=false
# The throwaway document: which boto3/botocore run aws:executeScript (Python 3.11), and whether
# their KMS model has EnableKeyRotation RotationPeriodInDays (botocore 1.34.84 and later), which
# the runbook's replica path (EnableKeyRotationOnPrimary) passes. No AWS call, so no role.
PROBE_CONTENT=$(cat <<'YAML'
schemaVersion: '0.3'
description: kms-rotation smoke test, the SDK inside aws:executeScript (deleted after the run).
mainSteps:
  - name: ReportSdk
    action: aws:executeScript
    isEnd: true
    inputs:
      Runtime: python3.11
      Handler: report
      Script: |-
        import boto3
        import botocore
        import botocore.session


        def report(events, context):
            kms = botocore.session.get_session().get_service_model("kms")
            members = kms.operation_model("EnableKeyRotation").input_shape.members
            return {
                "Boto3": boto3.__version__,
                "Botocore": botocore.__version__,
                "RotationPeriodInDays": "RotationPeriodInDays" in members,
            }
    outputs:
      - Name: Boto3
        Selector: $.Payload.Boto3
        Type: String
      - Name: Botocore
        Selector: $.Payload.Botocore
        Type: String
      - Name: RotationPeriodInDays
        Selector: $.Payload.RotationPeriodInDays
        Type: Boolean
YAML
)

pass() { printf 'PASS  %s\n' "$1"; PASSED=$((PASSED + 1)); }
fail() {
  printf 'FAIL  %s\n' "$1"
  if [ -n "${2:-}" ]; then printf '      %s\n' "$2"; fi
  FAILED=$((FAILED + 1))
}

# aws_call DESCRIPTION aws ARGS...: run one AWS CLI call; its stdout goes to $OUT. On failure,
# print FAIL with the AWS error and return 1.
aws_call() {
  local desc="$1" errfile
  shift
  errfile="$(mktemp)"
  if OUT="$("$@" 2>"$errfile")"; then
    rm -f "$errfile"
    return 0
  fi
  fail "$desc" "$(tr '\n' ' ' <"$errfile")"
  rm -f "$errfile"
  return 1
}

teardown() {
  echo "== teardown"
  if [ "$STACK_CREATED" = true ]; then
    aws_call "delete stack $RUN_ID" aws cloudformation delete-stack --stack-name "$RUN_ID" --region "$REGION" &&
      aws_call "stack $RUN_ID deleted" aws cloudformation wait stack-delete-complete --stack-name "$RUN_ID" --region "$REGION" &&
      pass "stack $RUN_ID deleted (function, roles, runbook, conformance pack)"
  fi
  if [ "$PROBE_CREATED" = true ]; then
    aws_call "delete document $PROBE_DOC" aws ssm delete-document --name "$PROBE_DOC" --region "$REGION" &&
      pass "document $PROBE_DOC deleted"
  fi
  local key
  for key in "${KEYS[@]}"; do
    aws_call "schedule deletion of key $key" aws kms schedule-key-deletion --key-id "$key" --pending-window-in-days 7 --region "$REGION" &&
      pass "key $key scheduled for deletion in 7 days"
  done
  if [ -n "$BUCKET" ]; then
    aws_call "delete code object" aws s3api delete-object --bucket "$BUCKET" --key "$CODE_KEY" --region "$REGION"
    aws_call "delete bucket $BUCKET" aws s3api delete-bucket --bucket "$BUCKET" --region "$REGION" &&
      pass "bucket $BUCKET deleted"
  fi
  echo "smoke test: $PASSED passed, $FAILED failed"
  if [ "$FAILED" -gt 0 ]; then exit 1; fi
}

# create_key DESCRIPTION [create-key options...]: a tagged key; its ID goes to $OUT and KEYS.
create_key() {
  local desc="$1"
  shift
  aws_call "create key ($desc)" aws kms create-key --description "$RUN_ID $desc" \
    --tags "TagKey=kms-rotation-smoke-test,TagValue=$RUN_ID" "$@" \
    --query KeyMetadata.KeyId --output text --region "$REGION" || return 1
  KEYS+=("$OUT")
  pass "created key $OUT ($desc)"
}

# wait_automation EXECUTION_ID: wait for an Automation execution to end; its status and failure
# message go to $OUT.
wait_automation() {
  local tries result=""
  for tries in $(seq 1 40); do
    aws_call "read execution $1" aws ssm get-automation-execution --automation-execution-id "$1" \
      --query 'AutomationExecution.[AutomationExecutionStatus,FailureMessage]' --output text --region "$REGION" && result="$OUT"
    case "$result" in Success* | Failed* | TimedOut* | Cancelled*) break ;; esac
    if [ "$tries" -lt 40 ]; then sleep 5; fi
  done
  OUT="$result"
}

# compliance_of KEY_ID: the rule's compliance type for the key (empty while Config has none).
compliance_of() {
  aws_call "read the evaluation of $1" aws configservice get-compliance-details-by-config-rule \
    --config-rule-name "$RULE" --compliance-types COMPLIANT NON_COMPLIANT NOT_APPLICABLE \
    --query "EvaluationResults[?EvaluationResultIdentifier.EvaluationResultQualifier.ResourceId=='$1'].[ComplianceType,EvaluationResultIdentifier.EvaluationResultQualifier.ResourceType]" \
    --output text --region "$REGION"
}

main() {
  echo "== prerequisites"
  if [ -z "$REGION" ]; then fail "AWS_REGION is set"; exit 1; fi
  if ! command -v aws >/dev/null; then fail "the AWS CLI is installed"; exit 1; fi
  if [ ! -f "$ZIP" ]; then fail "$ZIP exists" "build it: cargo lambda build --release --x86-64 --output-format zip --bin kms-rotation-rule"; exit 1; fi
  aws_call "credentials" aws sts get-caller-identity --query Account --output text --region "$REGION" || exit 1
  local account="$OUT"
  pass "credentials for account $account, Region $REGION"
  aws_call "Config recorder status" aws configservice describe-configuration-recorder-status \
    --query 'ConfigurationRecordersStatus[0].recording' --output text --region "$REGION" || exit 1
  if [ "$OUT" != "True" ]; then fail "AWS Config is recording in $REGION" "recording=$OUT"; exit 1; fi
  pass "AWS Config is recording in $REGION"
  trap teardown EXIT

  echo "== deploy"
  # As the organization StackSet does it: the code bucket of Region R is <prefix>-R, and the
  # named role is created in HomeRegion (here the only Region).
  local prefix="$RUN_ID-$account"
  BUCKET="$prefix-$REGION"
  if [ "$REGION" = "us-east-1" ]; then
    aws_call "create bucket $BUCKET" aws s3api create-bucket --bucket "$BUCKET" --region "$REGION" || BUCKET=""
  else
    aws_call "create bucket $BUCKET" aws s3api create-bucket --bucket "$BUCKET" --region "$REGION" \
      --create-bucket-configuration "LocationConstraint=$REGION" || BUCKET=""
  fi
  if [ -z "$BUCKET" ]; then exit 1; fi
  aws_call "upload the function" aws s3api put-object --bucket "$BUCKET" --key "$CODE_KEY" --body "$ZIP" --region "$REGION" || exit 1
  pass "function code uploaded to s3://$BUCKET/$CODE_KEY"
  aws_call "create stack $RUN_ID" aws cloudformation create-stack --stack-name "$RUN_ID" \
    --template-body "file://$TEMPLATE" --capabilities CAPABILITY_NAMED_IAM --region "$REGION" \
    --parameters "ParameterKey=CodeS3BucketPrefix,ParameterValue=$prefix" \
    "ParameterKey=HomeRegion,ParameterValue=$REGION" \
    "ParameterKey=CodeS3Key,ParameterValue=$CODE_KEY" \
    "ParameterKey=FunctionName,ParameterValue=$RUN_ID" \
    "ParameterKey=ReservedConcurrency,ParameterValue=0" \
    "ParameterKey=RemediationDocumentName,ParameterValue=$RUN_ID-EnableKeyRotation" \
    "ParameterKey=RemediationRoleName,ParameterValue=$RUN_ID-remediation" \
    "ParameterKey=DeployConformancePack,ParameterValue=true" \
    "ParameterKey=ConformancePackName,ParameterValue=$RUN_ID" \
    "ParameterKey=ConfigRuleName,ParameterValue=$RUN_ID-rule" || exit 1
  STACK_CREATED=true
  if ! aws_call "stack $RUN_ID created" aws cloudformation wait stack-create-complete --stack-name "$RUN_ID" --region "$REGION"; then
    aws_call "read the stack's failures" aws cloudformation describe-stack-events --stack-name "$RUN_ID" \
      --query "StackEvents[?ResourceStatus=='CREATE_FAILED'].[LogicalResourceId,ResourceStatusReason]" \
      --output text --region "$REGION" && fail "stack events" "$OUT"
    exit 1
  fi
  pass "stack $RUN_ID created (function, permission, runbook, role, conformance pack)"

  # Config names the pack's rule <ConfigRuleName>-conformance-pack-<suffix>.
  aws_call "find the pack's rule" aws configservice describe-conformance-pack-compliance \
    --conformance-pack-name "$RUN_ID" --query 'ConformancePackRuleComplianceList[0].ConfigRuleName' \
    --output text --region "$REGION" || exit 1
  RULE="$OUT"
  case "$RULE" in
    "$RUN_ID-rule-conformance-pack-"*) pass "the pack's rule is $RULE" ;;
    *) fail "the pack's rule is named $RUN_ID-rule-conformance-pack-<suffix>" "got: $RULE"; exit 1 ;;
  esac

  echo "== one key of each kind"
  create_key "rotation off" && local key_off="$OUT"
  create_key "rotation on" && local key_on="$OUT" &&
    aws_call "enable rotation of $key_on" aws kms enable-key-rotation --key-id "$key_on" --region "$REGION"
  create_key "asymmetric" --key-spec RSA_2048 --key-usage SIGN_VERIFY && local key_rsa="$OUT"
  create_key "HMAC" --key-spec HMAC_256 --key-usage GENERATE_VERIFY_MAC && local key_hmac="$OUT"
  create_key "imported material" --origin EXTERNAL && local key_ext="$OUT"
  create_key "disabled" && local key_disabled="$OUT" &&
    aws_call "disable $key_disabled" aws kms disable-key --key-id "$key_disabled" --region "$REGION"
  echo "SKIP  custom key store key (needs a CloudHSM cluster or an external key store)"

  echo "== the rule's evaluations"
  aws_call "start an evaluation of $RULE" aws configservice start-config-rules-evaluation \
    --config-rule-names "$RULE" --region "$REGION" && pass "evaluation of $RULE started"
  local expected=("${key_off:-}:NON_COMPLIANT" "${key_on:-}:COMPLIANT" "${key_rsa:-}:NOT_APPLICABLE"
    "${key_hmac:-}:NOT_APPLICABLE" "${key_ext:-}:NOT_APPLICABLE" "${key_disabled:-}:NOT_APPLICABLE")
  local item key want got tries
  for item in "${expected[@]}"; do
    key="${item%%:*}"
    want="${item#*:}"
    if [ -z "$key" ]; then continue; fi
    got=""
    for tries in $(seq 1 60); do
      compliance_of "$key" && got="$OUT"
      if [ -n "$got" ] && [ "$got" != "None" ]; then break; fi
      if [ "$tries" -lt 60 ]; then sleep 15; fi
    done
    if [ "$got" = "$want"$'\t'"AWS::KMS::Key" ]; then
      pass "key $key is $want"
    else
      fail "key $key is $want (resource type AWS::KMS::Key)" "Config shows: ${got:-nothing after 15 minutes}"
    fi
  done

  echo "== remediation through Config"
  if [ -n "${key_off:-}" ]; then
    aws_call "start remediation of $key_off" aws configservice start-remediation-execution \
      --config-rule-name "$RULE" --resource-keys "resourceType=AWS::KMS::Key,resourceId=$key_off" \
      --region "$REGION" && pass "remediation of $key_off started"
    local state=""
    for tries in $(seq 1 40); do
      aws_call "read the remediation of $key_off" aws configservice describe-remediation-execution-status \
        --config-rule-name "$RULE" --resource-keys "resourceType=AWS::KMS::Key,resourceId=$key_off" \
        --query 'RemediationExecutionStatuses[0].State' --output text --region "$REGION" && state="$OUT"
      if [ "$state" = "SUCCEEDED" ] || [ "$state" = "FAILED" ]; then break; fi
      sleep 15
    done
    if [ "$state" = "SUCCEEDED" ]; then pass "remediation of $key_off SUCCEEDED"; else fail "remediation of $key_off SUCCEEDED" "state: ${state:-unknown}"; fi
    aws_call "read the rotation of $key_off" aws kms get-key-rotation-status --key-id "$key_off" \
      --query '[KeyRotationEnabled,RotationPeriodInDays]' --output text --region "$REGION" &&
      if [ "$OUT" = "True"$'\t'"365" ]; then pass "key $key_off rotates every 365 days"; else fail "key $key_off rotates every 365 days" "got: $OUT"; fi
  fi

  echo "== the runbook on a key that already rotates: NumericEquals on '{{ }}', a timestamp output"
  if [ -n "${key_on:-}" ]; then
    local execution_on=""
    aws_call "start the runbook on $key_on" aws ssm start-automation-execution \
      --document-name "$RUN_ID-EnableKeyRotation" \
      --parameters "KeyId=$key_on,AutomationAssumeRole=arn:aws:iam::$account:role/$RUN_ID-remediation,RotationPeriodInDays=365" \
      --query AutomationExecutionId --output text --region "$REGION" && execution_on="$OUT"
    if [ -n "$execution_on" ]; then
      wait_automation "$execution_on"
      case "$OUT" in
        Success*) pass "the runbook succeeded on $key_on" ;;
        *) fail "the runbook succeeds on a key that already rotates" "got: ${OUT:-nothing}" ;;
      esac
      aws_call "read the steps of $execution_on" aws ssm get-automation-execution --automation-execution-id "$execution_on" \
        --query "AutomationExecution.StepExecutions[?StepStatus=='Success'].StepName" --output text --region "$REGION" &&
        case " $(tr '\t' ' ' <<<"$OUT") " in
          *" ConfirmRotation "*) pass "aws:branch NumericEquals '{{ RotationPeriodInDays }}' chose ConfirmRotation" ;;
          *) fail "aws:branch NumericEquals '{{ RotationPeriodInDays }}' chooses ConfirmRotation" "steps that succeeded: $OUT" ;;
        esac
      aws_call "read the outputs of ReportRotationStatus" aws ssm get-automation-execution --automation-execution-id "$execution_on" \
        --query "AutomationExecution.StepExecutions[?StepName=='ReportRotationStatus'] | [0].Outputs" --output json --region "$REGION" &&
        printf '      ReportRotationStatus outputs: %s\n' "$(tr -s ' \n' ' ' <<<"$OUT")"
      aws_call "read NextRotationDate" aws ssm get-automation-execution --automation-execution-id "$execution_on" \
        --query "AutomationExecution.StepExecutions[?StepName=='ReportRotationStatus'] | [0].Outputs.NextRotationDate[0]" \
        --output text --region "$REGION" &&
        if [ -n "$OUT" ] && [ "$OUT" != "None" ]; then
          pass "NextRotationDate (a timestamp) came out as the String output '$OUT'"
        else
          fail "NextRotationDate (a timestamp) comes out as a String output" "got: ${OUT:-nothing}"
        fi
    fi
  fi

  echo "== the runbook refuses a disabled key, saying why"
  if [ -n "${key_disabled:-}" ]; then
    aws_call "start the runbook on $key_disabled" aws ssm start-automation-execution \
      --document-name "$RUN_ID-EnableKeyRotation" \
      --parameters "KeyId=$key_disabled,AutomationAssumeRole=arn:aws:iam::$account:role/$RUN_ID-remediation" \
      --query AutomationExecutionId --output text --region "$REGION" && local execution="$OUT"
    local result=""
    for tries in $(seq 1 40); do
      aws_call "read execution ${execution:-}" aws ssm get-automation-execution --automation-execution-id "${execution:-none}" \
        --query 'AutomationExecution.[AutomationExecutionStatus,FailureMessage]' --output text --region "$REGION" && result="$OUT"
      case "$result" in Success* | Failed* | TimedOut* | Cancelled*) break ;; esac
      sleep 5
    done
    case "$result" in
      Failed*DisabledException*) pass "the runbook failed on the disabled key and named DisabledException" ;;
      *) fail "the runbook fails on a disabled key naming DisabledException" "got: ${result:-nothing}" ;;
    esac
  fi

  echo "== the SDK inside aws:executeScript"
  aws_call "create document $PROBE_DOC" aws ssm create-document --name "$PROBE_DOC" --document-type Automation \
    --document-format YAML --content "$PROBE_CONTENT" --region "$REGION" && PROBE_CREATED=true
  if [ "$PROBE_CREATED" = true ]; then
    local probe=""
    aws_call "start $PROBE_DOC" aws ssm start-automation-execution --document-name "$PROBE_DOC" \
      --query AutomationExecutionId --output text --region "$REGION" && probe="$OUT"
    if [ -n "$probe" ]; then
      wait_automation "$probe"
      aws_call "read the SDK versions" aws ssm get-automation-execution --automation-execution-id "$probe" \
        --query "AutomationExecution.StepExecutions[?StepName=='ReportSdk'] | [0].Outputs.[Boto3[0],Botocore[0],RotationPeriodInDays[0]]" \
        --output text --region "$REGION" &&
        case "$OUT" in
          *[Tt]rue) pass "aws:executeScript runs boto3/botocore $(tr '\t' '/' <<<"${OUT%$'\t'*}"), whose EnableKeyRotation takes RotationPeriodInDays" ;;
          *) fail "aws:executeScript's botocore has EnableKeyRotation RotationPeriodInDays (1.34.84 or later)" "boto3, botocore, has it: ${OUT:-nothing}" ;;
        esac
    fi
  fi
}

main "$@"
