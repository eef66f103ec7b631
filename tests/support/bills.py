"""Daily bill files as the providers publish them (the documented CSV layouts), written from a
payment emulator's books: the provider's side of reconciliation.

- WeChat Pay ``downloadbill`` bill_type ALL: UTF-8, a header line, one line per trade (and per
  refund) with every value prefixed by a backquote, then the totals block.
- Alipay 账单 业务明细: GBK, ``#`` comment lines around a header and one line per trade / refund.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

WECHAT_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
                 "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
                 "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
                 "费率备注")
ALIPAY_HEADER = ("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,"
                 "终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,"
                 "支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,"
                 "卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注")


@dataclass(frozen=True)
class BillTrade:
    transaction_id: str
    out_trade_no: str
    amount: int  # fen
    refunded: int = 0
    at: str = "2026-11-24 10:00:00"


def trades_of(books: object, at: str) -> list[BillTrade]:
    """The emulator's paid (and refunded) trades."""
    trades = getattr(books, "trades").values()  # noqa: B009 - tests.support Books
    return [BillTrade(t.transaction_id, t.out_trade_no, t.amount, t.refunded, at)
            for t in trades if t.state in ("paid", "refunded")]


def _y(fen: int) -> str:
    return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def wechat_bill(trades: Iterable[BillTrade]) -> bytes:
    lines = [WECHAT_HEADER]
    n = total = refunds = 0
    for t in trades:
        base = [t.at, "wxd930ea5d5a258f4f", "10000100", "0", "K01", t.transaction_id,
                t.out_trade_no, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "MICROPAY"]
        lines.append(",".join("`" + v for v in [*base, "SUCCESS", "CFT", "CNY", _y(t.amount), "0.00",
                                                 "0", "0", "0.00", "0.00", "", "", "图书馆缴费", "",
                                                 "0.00", "0.60%", _y(t.amount), "0.00", ""]))
        n, total = n + 1, total + t.amount
        if t.refunded:
            lines.append(",".join("`" + v for v in [
                *base, "REFUND", "CFT", "CNY", _y(t.amount), "0.00", "50300000000001",
                t.out_trade_no + "R", _y(t.refunded), "0.00", "ORIGINAL", "SUCCESS", "图书馆缴费",
                "", "0.00", "0.60%", _y(t.amount), _y(t.refunded), ""]))
            refunds += t.refunded
    lines.append("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额")
    lines.append(f"`{n},`{_y(total)},`{_y(refunds)},`0.00,`0.00,`{_y(total)},`{_y(refunds)}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def alipay_bill(trades: Iterable[BillTrade]) -> bytes:
    lines = ["#支付宝业务明细查询", "#账号：[20880000000000000156]", "#起始日期：[2026年11月24日 00:00:00]"
             "   终止日期：[2026年11月25日 00:00:00]",
             "#-----------------------------------------业务明细列表----------------------------------------",
             ALIPAY_HEADER]
    for t in trades:
        row = [t.transaction_id, t.out_trade_no, "交易", "图书馆缴费", t.at, t.at, "", "", "", "K01",
               "159****5620", _y(t.amount), _y(t.amount), "0.00", "0.00", "0.00", "0.00", "0.00", "",
               "0.00", "0.00", "", "0.00", "0.00", ""]
        lines.append(",".join(v + "\t" if i < 2 else v for i, v in enumerate(row)))
        if t.refunded:
            lines.append(",".join([t.transaction_id + "\t", t.out_trade_no + "\t", "退款",
                                   "图书馆缴费", t.at, t.at, "", "", "", "K01", "159****5620",
                                   _y(t.refunded), _y(-t.refunded), "0.00", "0.00", "0.00",
                                   "0.00", "0.00", "", "0.00", "0.00", t.out_trade_no + "R",
                                   "0.00", "0.00", ""]))
    lines += ["#-----------------------------------------业务明细列表结束------------------------------------",
              "#交易合计：1笔，商家实收共0.01元，商家优惠共0.00元",
              "#导出时间：[2026年11月25日 09:12:30]"]
    return ("\r\n".join(lines) + "\r\n").encode("gb18030")
