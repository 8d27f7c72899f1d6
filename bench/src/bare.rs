//! The `bare` scenario's server: actix-web answering `GET /` with no middleware, no state and no
//! other route, run by the bench as a child process of its own binary (`userdir-bench
//! bare-server`). It answers what userdir's `/health/live` answers, built the same way, so the
//! difference between the two is what userdir adds to every request; the bare route itself is the
//! most this machine serves over HTTP with actix-web.

use actix_web::{App, HttpResponse, HttpServer, web};

pub fn serve(port: u16, workers: usize) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| App::new().route("/", web::get().to(live)))
            .workers(workers.max(1))
            .bind(("127.0.0.1", port))?
            .run()
            .await
    })?;
    Ok(())
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "live" }))
}
