# meshcut-webhook (owned by the packaging work)
