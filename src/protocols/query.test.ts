/** The query protocol's error shape and form decoding, checked against what botocore's XML parser expects. */
import { describe, expect, it } from 'vitest';
import { BerthError } from './errors.js';
import { AWS_FAULT_XMLNS, decodeQueryForm, encodeQueryError, escapeXml, isFormContentType, queryErrorCode } from './query.js';

const ELB_XMLNS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';

describe('decodeQueryForm', () => {
  it('splits Action and Version from the other parameters, decoding form escapes', () => {
    const req = decodeQueryForm(new TextEncoder().encode('Action=DescribeTargetGroups&Version=2015-12-01&Names.member.1=a+b%2Fc&PageSize=2'));
    expect(req).toEqual({ action: 'DescribeTargetGroups', version: '2015-12-01', params: { 'Names.member.1': 'a b/c', PageSize: '2' } });
  });

  it('leaves Version undefined when absent', () => {
    expect(decodeQueryForm('Action=X').version).toBeUndefined();
  });

  it.each(['', 'Version=2015-12-01', 'Action='])('refuses %j without an Action', (body) => {
    try {
      decodeQueryForm(body);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(BerthError);
      expect((err as BerthError).code).toBe('InvalidAction');
      expect((err as BerthError).message).toBe('The request must contain the parameter Action.');
    }
  });
});

describe('isFormContentType', () => {
  it('recognises form bodies with or without charset', () => {
    expect(isFormContentType('application/x-www-form-urlencoded; charset=utf-8')).toBe(true);
    expect(isFormContentType('Application/X-WWW-Form-Urlencoded')).toBe(true);
    expect(isFormContentType('application/x-amz-json-1.1')).toBe(false);
    expect(isFormContentType(undefined)).toBe(false);
  });
});

describe('queryErrorCode', () => {
  it('renames the auth failures to the query services’ names', () => {
    expect(queryErrorCode(new BerthError('UnrecognizedClientException', 'm'))).toEqual({ code: 'InvalidClientTokenId', status: 403 });
    expect(queryErrorCode(new BerthError('InvalidSignatureException', 'm'))).toEqual({ code: 'SignatureDoesNotMatch', status: 403 });
    expect(queryErrorCode(new BerthError('MissingAuthenticationTokenException', 'm'))).toEqual({ code: 'MissingAuthenticationToken', status: 403 });
    expect(queryErrorCode(new BerthError('ServerException', 'm'))).toEqual({ code: 'InternalFailure', status: 500 });
  });

  it('drops the Exception suffix otherwise, as ELBv2 codes do', () => {
    expect(queryErrorCode(new BerthError('ResourceInUseException', 'm'))).toEqual({ code: 'ResourceInUse', status: 400 });
    expect(queryErrorCode(new BerthError('InvalidAction', 'm'))).toEqual({ code: 'InvalidAction', status: 400 });
  });
});

describe('encodeQueryError', () => {
  it('writes the ErrorResponse document', () => {
    const res = encodeQueryError(new BerthError('InvalidAction', 'No action Foo.'), 'req-1', ELB_XMLNS);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('text/xml');
    expect(res.body).toBe(
      `<ErrorResponse xmlns="${ELB_XMLNS}"><Error><Type>Sender</Type><Code>InvalidAction</Code>` +
        `<Message>No action Foo.</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`,
    );
  });

  it('marks faults as Receiver with 500 and defaults to the AWS fault namespace', () => {
    const res = encodeQueryError(new BerthError('ServerException', 'boom'), 'r');
    expect(res.status).toBe(500);
    expect(res.body).toContain(`xmlns="${AWS_FAULT_XMLNS}"`);
    expect(res.body).toContain('<Type>Receiver</Type><Code>InternalFailure</Code>');
  });

  it('escapes the message', () => {
    const res = encodeQueryError(new BerthError('ValidationException', `name "<a&b>" isn't valid`), 'r');
    expect(res.body).toContain('<Message>name &quot;&lt;a&amp;b&gt;&quot; isn&apos;t valid</Message>');
  });
});

describe('escapeXml', () => {
  it('replaces characters XML 1.0 cannot carry', () => {
    expect(escapeXml('a\u0000b\u0007c\td\ne')).toBe('a\uFFFDb\uFFFDc\td\ne');
    expect(escapeXml('x\uD800y')).toBe('x\uFFFDy');
    expect(escapeXml('emoji \u{1F600}')).toBe('emoji \u{1F600}');
  });
});
