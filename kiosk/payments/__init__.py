"""Real payment gateways (WeChat Pay micropay v2, Alipay 当面付 条码支付) and the durable payment
lifecycle that puts them behind ``kiosk.services.ports.PaymentGateway``.

- ``provider``: the small ``PaymentProvider`` Protocol each adapter implements (pay, query,
  reverse, refund) and the ``ProviderAnswer`` it returns;
- ``wechat`` / ``alipay``: the two adapters (request signing, response verification, HTTP);
- ``signing``: the providers' signature schemes (pure functions, unit-tested on the doc examples);
- ``lifecycle``: ``DurablePaymentGateway``: intent committed before the provider is called,
  waits, queries, reversal, refund, recovery at start-up;
- ``factory``: ``build_gateway(settings, store, clock)`` by ``payment.type``.
"""
