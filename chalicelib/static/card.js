// The card page (/payment/card). The card number and the CVC go to the card gateway only (POST /api/v1/tokens,
// with the publishable key), which answers a one-time token and the card masked; the registration
// (POST /api/payment/credit, with the member's access token) gets only those. A file rather than an inline
// script, so that the page's Content-Security-Policy allows this app's scripts only. Nothing here logs, and
// every text reaches the page through textContent.
"use strict";

(() => {
  // "" on the local server, the stage's path ("/api") under API Gateway: the page says which.
  const base = document.currentScript.dataset.apiBase || "";
  const TOKENS_URL = `${base}/api/v1/tokens`;
  const CREDIT_URL = `${base}/api/payment/credit`;
  const CARD_TYPES = { VISA: 1, MASTERCARD: 2, JCB: 3, AMEX: 4, DINERS: 5 };
  const BRANDS = Object.fromEntries(Object.entries(CARD_TYPES).map(([brand, type]) => [type, brand]));
  const FIELD_LABELS = {
    credit_card_type: "カード種類",
    credit_card_number: "カード番号",
    credit_card_nominee: "カード名義",
    credit_card_effective_month: "有効期限 (月)",
    credit_card_effective_year: "有効期限 (年)",
    credit_card_token: "カードトークン",
    "card.number": "カード番号",
    "card.expiry_month": "有効期限 (月)",
    "card.expiry_year": "有効期限 (年)",
    "card.cvc": "セキュリティコード",
    "card.name": "カード名義",
  };

  const element = (id) => document.getElementById(id);
  const form = element("card-form");
  const button = element("register");
  const result = element("result");
  const currentCard = element("current-card");
  const credentialInputs = element("credentials");
  const accessToken = element("access-token");
  const publishableKey = element("publishable-key");
  const card = {
    number: element("card-number"),
    month: element("expiry-month"),
    year: element("expiry-year"),
    cvc: element("cvc"),
    name: element("card-name"),
  };

  // The credentials come in the URL fragment, which no server sees. They then leave the address bar and this
  // history entry, so that a copied or bookmarked URL does not carry them.
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  accessToken.value = fragment.get("access_token") || "";
  publishableKey.value = fragment.get("publishable_key") || "";
  credentialInputs.hidden = Boolean(accessToken.value && publishableKey.value);
  if (window.location.hash) {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }

  const label = (field) => FIELD_LABELS[field] || field;

  async function call(method, url, credential, body) {
    const response = await fetch(url, {
      method,
      headers: {
        Authorization: `Bearer ${credential}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      // not JSON: the status says what happened
    }
    return { status: response.status, body: answer };
  }

  // The card gateway's refusal: {"success": false, "gateway_response": {"message", "code"}, "errors"?: [{field, message}]}
  function gatewayMessages(body) {
    const messages = [];
    if (body && body.gateway_response && body.gateway_response.message) {
      messages.push(String(body.gateway_response.message));
    }
    for (const error of Array.isArray(body && body.errors) ? body.errors : []) {
      messages.push(error && error.field ? `${label(error.field)}: ${error.message}` : String(error && error.message));
    }
    return messages;
  }

  // The registration API's errors: "" (none), ["message", ...], or {field: "message|message"} (a 422).
  function registrationMessages(body) {
    const errors = body ? body.errors : undefined;
    if (Array.isArray(errors)) return errors.map(String);
    if (errors && typeof errors === "object") {
      return Object.entries(errors).flatMap(([field, text]) =>
        (Array.isArray(text) ? text : String(text).split("|"))
          .filter((message) => message !== "")
          .map((message) => `${label(field)}: ${message}`),
      );
    }
    return errors ? [String(errors)] : [];
  }

  function paragraph(text, id) {
    const p = document.createElement("p");
    p.textContent = text;
    if (id) p.id = id;
    return p;
  }

  function showProgress(text) {
    result.className = "muted";
    result.replaceChildren(paragraph(text));
  }

  function showSuccess(maskedCard) {
    result.className = "ok";
    result.replaceChildren(paragraph("カードを登録しました"), paragraph(maskedCard, "registered-card"));
  }

  function showErrors(messages, fallback) {
    const list = document.createElement("ul");
    for (const message of messages.length ? messages : [fallback]) {
      const item = document.createElement("li");
      item.textContent = message;
      list.append(item);
    }
    result.className = "error";
    result.replaceChildren(list);
  }

  // Only the last request's answer is shown (one on load, one after each registration).
  let currentCardRequests = 0;

  async function showCurrentCard() {
    const credential = accessToken.value.trim();
    if (!credential) {
      currentCard.textContent = "アクセストークンを入力すると、登録済みのカードを表示します。";
      return;
    }
    const request = ++currentCardRequests;
    let answer;
    try {
      answer = await call("GET", CREDIT_URL, credential);
    } catch {
      answer = { status: 0, body: null };
    }
    if (request !== currentCardRequests) return;
    const { status, body } = answer;
    if (status === 200 && body && body.result === true) {
      const registered = body.data || {};
      currentCard.textContent = registered.credit_card_number
        ? `登録済みのカード: ${BRANDS[registered.credit_card_type] || ""} ${registered.credit_card_number}` +
          ` ${registered.credit_card_nominee || ""} (有効期限 ${registered.credit_card_effective_month}/` +
          `${registered.credit_card_effective_year})`
        : "登録済みのカードはありません。";
    } else {
      const messages = registrationMessages(body);
      currentCard.textContent = `登録済みのカードを読み込めませんでした${messages.length ? `: ${messages.join(" ")}` : "。"}`;
    }
  }

  async function register(accessCredential, publishableCredential) {
    const name = card.name.value.trim();
    const month = card.month.value.trim();
    const year = card.year.value.trim();
    showProgress("カードを確認しています…");
    let tokenised;
    try {
      tokenised = await call("POST", TOKENS_URL, publishableCredential, {
        card: {
          number: card.number.value.replace(/[\s-]/g, ""),
          expiry_month: month,
          expiry_year: year,
          cvc: card.cvc.value.trim(),
          name,
        },
      });
    } catch {
      showErrors([], "カード会社と通信できませんでした。時間をおいてお試しください。");
      return;
    }
    const token = tokenised.body;
    if (tokenised.status !== 201 || !token || !token.token || !token.card) {
      showErrors(gatewayMessages(token), `カードを確認できませんでした (HTTP ${tokenised.status})。`);
      return;
    }
    // The number and the CVC are a token now: they leave the page.
    card.number.value = "";
    card.cvc.value = "";
    const type = CARD_TYPES[token.card.brand];
    if (!type) {
      showErrors([`このカード (${token.card.brand}) は登録できません。`]);
      return;
    }
    showProgress("カードを登録しています…");
    let registered;
    try {
      registered = await call("POST", CREDIT_URL, accessCredential, {
        credit_card_type: type,
        credit_card_number: token.card.number,
        credit_card_nominee: name,
        credit_card_effective_month: month,
        credit_card_effective_year: year,
        credit_card_token: token.token,
      });
    } catch {
      showErrors([], "カードを登録できませんでした。通信を確認してお試しください。");
      return;
    }
    if (registered.status === 200 && registered.body && registered.body.result === true) {
      showSuccess(`${token.card.brand} ${token.card.number}`);
      showCurrentCard();
      return;
    }
    showErrors(registrationMessages(registered.body), `カードを登録できませんでした (HTTP ${registered.status})。`);
  }

  let busy = false;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return; // one registration at a time: a double click registers once
    const accessCredential = accessToken.value.trim();
    const publishableCredential = publishableKey.value.trim();
    if (!accessCredential || !publishableCredential) {
      credentialInputs.hidden = false;
      showErrors(["アクセストークンと公開可能キーを入力してください。"]);
      return;
    }
    busy = true;
    button.disabled = true;
    try {
      await register(accessCredential, publishableCredential);
    } finally {
      busy = false;
      button.disabled = false;
    }
  });
  accessToken.addEventListener("change", showCurrentCard);

  showCurrentCard();
})();
